#pragma once
// The policies the command-line tool can run. Names on the command line are
// each policy's own `name`; adding a backbone, quantizer or meta-learner to
// the tool is one entry in one of the three lists below.
#include <algorithm>
#include <string>
#include <vector>

#include "metarec/backbones/bert4rec.hpp"
#include "metarec/backbones/gru4rec.hpp"
#include "metarec/backbones/sasrec.hpp"
#include "metarec/core/error.hpp"
#include "metarec/meta/transfer.hpp"
#include "metarec/quantizers/identity.hpp"
#include "metarec/quantizers/multi_head_vq.hpp"
#include "metarec/quantizers/product_quantizer.hpp"
#include "metarec/recommender/recommender.hpp"

namespace metarec::cli {

template <class... Policies>
struct PolicyList {
  /// The policies' names, in list order (for --help and CLI::IsMember).
  static std::vector<std::string> names() { return {Policies::name...}; }
  static std::string joined() {
    std::string s;
    for (const auto& n : names()) s += (s.empty() ? "" : "|") + n;
    return s;
  }
  /// Calls f.template operator()<P>() for every policy, in list order.
  template <class F>
  static void for_each(F&& f) {
    (f.template operator()<Policies>(), ...);
  }
  /// Calls f.template operator()<P>() for the policy P named `name`; ConfigError naming `what` otherwise.
  template <class F>
  static decltype(auto) with(const std::string& name, const char* what, F&& f) {
    return dispatch<F, Policies...>(name, what, f);
  }

 private:
  template <class F, class P, class... Rest>
  static decltype(auto) dispatch(const std::string& name, const char* what, F& f) {
    if (name == P::name) return f.template operator()<P>();
    if constexpr (sizeof...(Rest) > 0) return dispatch<F, Rest...>(name, what, f);
    else throw ConfigError("unknown " + std::string(what) + " '" + name + "' (expected " + joined() + ")");
  }
};

using Backbones = PolicyList<backbones::SASRec, backbones::GRU4Rec, backbones::BERT4Rec>;
using Quantizers = PolicyList<quantizers::Identity, quantizers::MultiHeadVQ, quantizers::ProductQuantizer>;
/// The quantizers with a device path (--device cuda).
using DeviceQuantizers = PolicyList<quantizers::Identity, quantizers::MultiHeadVQ>;
using MetaLearners =
    PolicyList<meta::SimilarityRescaled, meta::FOMAML, meta::Reptile, meta::JointPretrain, meta::TargetOnly>;

/// The devices `--device` names: "cpu" (always) and "cuda" (a build with the CUDA backend).
inline std::vector<std::string> device_names() { return {"cpu", "cuda"}; }

/// Throws ConfigError unless models can run on `device` in this build and on this machine.
void check_device(const std::string& device);

/// Calls f.template operator()<Model>() with the Recommender type named by (backbone, quantizer).
template <class F>
decltype(auto) with_model(const std::string& backbone, const std::string& quantizer, F&& f) {
  return Backbones::with(backbone, "backbone", [&]<class Bb>() -> decltype(auto) {
    return Quantizers::with(quantizer.empty() ? std::string("none") : quantizer, "quantizer",
                            [&]<class Q>() -> decltype(auto) { return f.template operator()<Recommender<Bb, Q>>(); });
  });
}

/// with_model on `device` ("cpu" or "cuda"): on "cuda" the Recommender runs on
/// backend::Cuda, and the quantizer must have a device path (DeviceQuantizers).
/// Commands whose code is backend-generic call this one.
template <class F>
decltype(auto) with_model_on(const std::string& device, const std::string& backbone, const std::string& quantizer,
                             F&& f) {
  if (device != "cpu") {
    check_device(device);
#if defined(METAREC_WITH_CUDA_BACKEND)
    const std::string q = quantizer.empty() ? std::string("none") : quantizer;
    const auto ok = DeviceQuantizers::names();
    if (std::find(ok.begin(), ok.end(), q) == ok.end())
      throw ConfigError("--device cuda: quantizer '" + q + "' has no device path yet (" + DeviceQuantizers::joined() +
                        " run there)");
    return Backbones::with(backbone, "backbone", [&]<class Bb>() -> decltype(auto) {
      return DeviceQuantizers::with(q, "quantizer", [&]<class Q>() -> decltype(auto) {
        return f.template operator()<RecommenderType<Bb, Q, backend::Cuda>>();
      });
    });
#endif
  }
  return with_model(backbone, quantizer, f);
}

/// Calls f.template operator()<Policy>() with the meta-learner named `name`.
template <class F>
decltype(auto) with_meta_learner(const std::string& name, F&& f) {
  return MetaLearners::with(name, "meta-learner", f);
}

}  // namespace metarec::cli
