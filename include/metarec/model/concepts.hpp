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

namespace concepts {
template <class P, class T>
concept HasModelTemplate = requires { typename P::template Model<T>; };
template <class P>
concept HasName = requires { { P::name } -> std::convertible_to<const char*>; };
template <class P>
concept HasObjective = requires { { P::objective } -> std::convertible_to<Objective>; };
/// A policy's settings, when it has any, are ModelPolicyConfig (model/policy_config.hpp).
template <class P>
concept HasValidConfig = !has_config<P> || ModelPolicyConfig<config_of<P>>;
/// Built from (store, prefix, model config, [its own Config,] rng).
template <class P, class T>
concept BackboneConstructible =
    (has_config<P> && std::constructible_from<typename P::template Model<T>, nn::ParameterStore<T>&, const std::string&,
                                              const ModelConfig&, const config_of<P>&, Rng&>) ||
    (!has_config<P> &&
     std::constructible_from<typename P::template Model<T>, nn::ParameterStore<T>&, const std::string&, const ModelConfig&, Rng&>);
template <class P, class T>
concept HasEncode = requires(typename P::template Model<T>& m, Tape<T>& t, Var<T> x, const SequenceView& s) {
  { m.encode(t, x, s) } -> std::same_as<Var<T>>;
};
/// Optional: `encode_packed(tape, x [N, d], PackedView)` -> [N, d] over the
/// real items only. Detected; when present the Recommender never pads.
template <class P, class T>
concept HasPackedEncode = requires(typename P::template Model<T>& m, Tape<T>& t, Var<T> x, const PackedView& s) {
  { m.encode_packed(t, x, s) } -> std::same_as<Var<T>>;
};
/// Built from (store, model config, [its own Config,] rng).
template <class P, class T>
concept QuantizerConstructible =
    (has_config<P> && std::constructible_from<typename P::template Model<T>, nn::ParameterStore<T>&, const ModelConfig&,
                                              const config_of<P>&, Rng&>) ||
    (!has_config<P> && std::constructible_from<typename P::template Model<T>, nn::ParameterStore<T>&, const ModelConfig&, Rng&>);
template <class P, class T>
concept HasApply = requires(typename P::template Model<T>& m, Tape<T>& t, Var<T> table, int domain) {
  { m.apply(t, table, domain) } -> std::same_as<QuantizedItems<T>>;
};
}  // namespace concepts

/// A sequence encoder policy: `name`, `objective`, optionally its settings
/// `Config`, and a nested `template <class T> class Model` built from
/// (store, prefix, model config, [config,] rng)
/// whose `encode(tape, x [B, L, d], view)` returns hidden states [B, L, d].
template <class P, class T = float>
concept Backbone = concepts::HasModelTemplate<P, T> && concepts::HasName<P> && concepts::HasObjective<P> &&
                   concepts::HasValidConfig<P> && concepts::BackboneConstructible<P, T> && concepts::HasEncode<P, T>;

/// An item-representation policy: `name`, optionally its settings `Config`,
/// and a nested `template <class T> class Model` built from
/// (store, model config, [config,] rng) whose
/// `apply(tape, table [rows, d], domain)` returns the represented items and
/// an optional auxiliary loss.
template <class P, class T = float>
concept Quantizer = concepts::HasModelTemplate<P, T> && concepts::HasName<P> &&
                    concepts::HasValidConfig<P> && concepts::QuantizerConstructible<P, T> && concepts::HasApply<P, T>;

}  // namespace metarec
