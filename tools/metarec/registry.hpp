#pragma once
// The fixed set of model instantiations the command-line tool can run. Names
// on the command line map to policy types here and nowhere else.
#include <string>

#include "metarec/backbones/bert4rec.hpp"
#include "metarec/backbones/gru4rec.hpp"
#include "metarec/backbones/sasrec.hpp"
#include "metarec/core/error.hpp"
#include "metarec/model/recommender.hpp"
#include "metarec/quantizers/identity.hpp"
#include "metarec/quantizers/multi_head_vq.hpp"

namespace metarec::cli {

inline const char* backbone_names = "sasrec|gru4rec|bert4rec";
inline const char* quantizer_names = "none|vq";

/// Calls f.template operator()<Model>() with the Recommender type named by
/// (backbone, quantizer); ConfigError for an unknown name.
template <class F>
decltype(auto) with_model(const std::string& backbone, const std::string& quantizer, F&& f) {
  auto with_quantizer = [&]<class B>() -> decltype(auto) {
    if (quantizer == "none" || quantizer.empty())
      return f.template operator()<Recommender<B, quantizers::Identity>>();
    if (quantizer == "vq") return f.template operator()<Recommender<B, quantizers::MultiHeadVQ>>();
    throw ConfigError("unknown quantizer '" + quantizer + "' (expected " + quantizer_names + ")");
  };
  if (backbone == "sasrec") return with_quantizer.template operator()<backbones::SASRec>();
  if (backbone == "gru4rec") return with_quantizer.template operator()<backbones::GRU4Rec>();
  if (backbone == "bert4rec") return with_quantizer.template operator()<backbones::BERT4Rec>();
  throw ConfigError("unknown backbone '" + backbone + "' (expected " + backbone_names + ")");
}

}  // namespace metarec::cli
