#pragma once
/// @file policy_config.hpp
/// Settings owned by a policy. A backbone, quantizer or meta-learner with
/// run-time settings defines a nested `Config`:
///   - default-constructible, the defaults being the policy's recommended values;
///   - `void validate(const ModelConfig&) const` (meta-learners: `validate()`),
///     throwing ConfigError that names the field;
///   - `template <class V> void visit(V&& v)`, calling `v(key, field, help)`
///     (or `v(key, field, help, "--flag")` where the tool's flag is not
///     `--key` with dashes) once per field.
/// visit() is all the command-line tool, JSON configs and checkpoints need to
/// know of a policy's settings, so a new policy with settings is still one
/// header plus one registry entry. A policy without settings defines nothing
/// and gets NoConfig; its Model is then built without one.
#include <concepts>

#include "metarec/model/config.hpp"

namespace metarec {

struct NoConfig {
  void validate(const ModelConfig&) const {}
  void validate() const {}
  template <class V>
  void visit(V&&) {}
};

template <class P>
struct policy_config {
  using type = NoConfig;
};
template <class P>
  requires requires { typename P::Config; }
struct policy_config<P> {
  using type = typename P::Config;
};
/// P::Config, or NoConfig when P has no settings.
template <class P>
using config_of = typename policy_config<P>::type;

template <class P>
inline constexpr bool has_config = !std::same_as<config_of<P>, NoConfig>;

namespace detail {
/// Accepts every field, so that concepts can ask whether visit() compiles.
struct VisitProbe {
  template <class F>
  void operator()(const char*, F&, const char*, const char* = nullptr) const {}
};
}  // namespace detail

/// A model policy's settings (backbones, quantizers).
template <class C>
concept ModelPolicyConfig = std::default_initializable<C> && requires(const C& c, C& m, const ModelConfig& mc) {
  c.validate(mc);
  m.visit(detail::VisitProbe{});
};

}  // namespace metarec
