#pragma once
/// @file concepts.hpp
/// Contracts of the compile-time policies of a Recommender. Each contract is a
/// conjunction of small named concepts so that a type that does not fit fails
/// with the name of the missing member (ensmallen's static_checks.hpp is the
/// model); Recommender also static_asserts each one with a sentence.
#include <concepts>
#include <cstdint>
#include <string>

#include "metarec/autograd/tape.hpp"
#include "metarec/core/random.hpp"
#include "metarec/core/sequence_view.hpp"
#include "metarec/model/config.hpp"
#include "metarec/model/contract.hpp"
#include "metarec/model/policy_config.hpp"
#include "metarec/nn/parameter_store.hpp"

namespace metarec {

namespace detail {
template <class P, class T, class B>
struct model_of_impl {};
template <class P, class T, class B>
  requires requires { typename P::template Model<T, B>; }
struct model_of_impl<P, T, B> {
  using type = typename P::template Model<T, B>;
};
// A policy whose Model takes only the scalar is host code: it runs on backend::Cpu.
template <class P, class T>
  requires(!requires { typename P::template Model<T, backend::Cpu>; } && requires { typename P::template Model<T>; })
struct model_of_impl<P, T, backend::Cpu> {
  using type = typename P::template Model<T>;
};
}  // namespace detail

/// A policy's Model for scalar T on backend B: `Model<T, B>`, or `Model<T>`
/// for a policy written for the host only (then B must be backend::Cpu).
template <class P, class T, class B = backend::Cpu>
using model_of = typename detail::model_of_impl<P, T, B>::type;

namespace concepts {
template <class P, class T, class B = backend::Cpu>
concept HasModelTemplate = requires { typename model_of<P, T, B>; };
template <class P>
concept HasName = requires { { P::name } -> std::convertible_to<const char*>; };
template <class P>
concept HasObjective = requires { { P::objective } -> std::convertible_to<Objective>; };
/// A policy's settings, when it has any, are ModelPolicyConfig (model/policy_config.hpp).
template <class P>
concept HasValidConfig = !has_config<P> || ModelPolicyConfig<config_of<P>>;
/// Built from (store, prefix, model config, [its own Config,] rng).
template <class P, class T, class B = backend::Cpu>
concept BackboneConstructible =
    (has_config<P> && std::constructible_from<model_of<P, T, B>, nn::ParameterStore<T, B>&, const std::string&,
                                              const ModelConfig&, const config_of<P>&, Rng&>) ||
    (!has_config<P> &&
     std::constructible_from<model_of<P, T, B>, nn::ParameterStore<T, B>&, const std::string&, const ModelConfig&, Rng&>);
template <class P, class T, class B = backend::Cpu>
concept HasEncode = requires(model_of<P, T, B>& m, Tape<T, B>& t, Var<T, B> x, const SequenceView& s) {
  { m.encode(t, x, s) } -> std::same_as<Var<T, B>>;
};
/// Optional: `encode_packed(tape, x [N, d], PackedView)` -> [N, d] over the
/// real items only. Detected; when present the Recommender never pads.
template <class P, class T, class B = backend::Cpu>
concept HasPackedEncode = requires(model_of<P, T, B>& m, Tape<T, B>& t, Var<T, B> x, const PackedView& s) {
  { m.encode_packed(t, x, s) } -> std::same_as<Var<T, B>>;
};
/// Built from (store, model config, [its own Config,] rng).
template <class P, class T, class B = backend::Cpu>
concept QuantizerConstructible =
    (has_config<P> && std::constructible_from<model_of<P, T, B>, nn::ParameterStore<T, B>&, const ModelConfig&,
                                              const config_of<P>&, Rng&>) ||
    (!has_config<P> && std::constructible_from<model_of<P, T, B>, nn::ParameterStore<T, B>&, const ModelConfig&, Rng&>);
template <class P, class T, class B = backend::Cpu>
concept HasApply = requires(model_of<P, T, B>& m, Tape<T, B>& t, Var<T, B> table, int domain) {
  { m.apply(t, table, domain) } -> std::same_as<QuantizedItems<T, B>>;
};
}  // namespace concepts

/// A sequence encoder policy: `name`, `objective`, optionally its settings
/// `Config`, and a nested `template <class T, class B = backend::Cpu> class Model` built from
/// (store, prefix, model config, [config,] rng)
/// whose `encode(tape, x [B, L, d], view)` returns hidden states [B, L, d].
template <class P, class T = float, class B = backend::Cpu>
concept Backbone = concepts::HasModelTemplate<P, T, B> && concepts::HasName<P> && concepts::HasObjective<P> &&
                   concepts::HasValidConfig<P> && concepts::BackboneConstructible<P, T, B> && concepts::HasEncode<P, T, B>;

/// An item-representation policy: `name`, optionally its settings `Config`,
/// and a nested `template <class T, class B = backend::Cpu> class Model` built from
/// (store, model config, [config,] rng) whose
/// `apply(tape, table [rows, d], domain)` returns the represented items and
/// an optional auxiliary loss.
template <class P, class T = float, class B = backend::Cpu>
concept Quantizer = concepts::HasModelTemplate<P, T, B> && concepts::HasName<P> &&
                    concepts::HasValidConfig<P> && concepts::QuantizerConstructible<P, T, B> && concepts::HasApply<P, T, B>;

}  // namespace metarec
