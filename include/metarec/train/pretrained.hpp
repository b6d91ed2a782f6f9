#pragma once
/// @file pretrained.hpp
/// Checkpoints of multi-domain models: save every domain's table and the
/// shared parts; load them into a model that may have attached new domains
/// (a target domain keeps its fresh table) or dropped some (ignored).
#include <string>
#include <vector>

#include "metarec/train/checkpoint.hpp"

namespace metarec::train {

/// Every parameter of the model, with the domain names and config text in the metadata.
template <class Model>
Checkpoint model_checkpoint(Model& model, const std::string& config_text = "") {
  Checkpoint ck;
  std::string names;
  for (int k = 0; k < model.num_domains(); ++k)
    names += (k ? "," : "") + model.domain(k).name + ":" + std::to_string(model.domain(k).n_items);
  ck.meta["domains"] = names;
  if (!config_text.empty()) ck.meta["config"] = config_text;
  add_parameters(ck, model.parameters().all());
  return ck;
}

/// Loads the shared parameters (all required, shapes checked: a model built
/// with another d, layer count, head count, codebook size... fails with a
/// CheckpointError naming the tensor) and the tables of the model's domains
/// that the checkpoint has. Returns the names of the domains left as initialised.
template <class Model>
std::vector<std::string> load_pretrained(Model& model, const Checkpoint& ck) {
  std::vector<parameter_of<Model>*> params;
  for (auto* p : model.parameters().all())
    if (p->name.rfind("items.", 0) != 0) params.push_back(p);
  std::vector<std::string> fresh;
  for (int k = 0; k < model.num_domains(); ++k) {
    const auto own = model.domain_parameters(k);
    if (ck.find(model.domain(k).table)) params.insert(params.end(), own.begin(), own.end());
    else fresh.push_back(model.domain(k).name);
  }
  restore_parameters(ck, params, /*strict=*/false);
  return fresh;
}

}  // namespace metarec::train
