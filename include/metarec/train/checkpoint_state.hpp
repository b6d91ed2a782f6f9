#pragma once
/// @file checkpoint_state.hpp
/// Moving parameters and optimizer state in and out of a Checkpoint. Restores
/// check everything first (missing names, unknown names, dtype and shape) and
/// copy only when all is well: a failed restore leaves the model unchanged.
#include <map>
#include <string>
#include <vector>

#include "metarec/autograd/parameter.hpp"
#include "metarec/optim/optimizer.hpp"
#include "metarec/train/checkpoint_format.hpp"

namespace metarec {

/// Default section of the optimizer state ("optimizer/adam.m.<param>", ...).
inline const std::string optimizer_section = "optimizer/";

namespace detail {
/// Collects restore problems so one error lists them all.
class RestoreProblems {
 public:
  void add(std::string p) { problems_.push_back(std::move(p)); }
  void throw_if_any(const std::string& who) const {
    if (problems_.empty()) return;
    std::string msg = who + ": " + std::to_string(problems_.size()) + " problem(s), nothing was loaded: ";
    for (std::size_t i = 0; i < problems_.size() && i < 20; ++i) msg += (i ? "; " : "") + problems_[i];
    if (problems_.size() > 20) msg += "; ...";
    throw CheckpointError(msg);
  }

 private:
  std::vector<std::string> problems_;
};

/// A host copy of a tensor of any backend (the tensor itself on the host).
template <class T>
Tensor<T> on_host(const Tensor<T>& t) { return t; }
template <class T>
Tensor<T> on_host(const cuda::DeviceTensor<T>& t) { return memory<backend::Cuda>::to_host(t); }
/// e's values into dst (converted to dst's dtype), on whichever backend dst lives.
template <class T>
void load_entry(const CheckpointEntry& e, const Tensor<T>& dst) { e.copy_to(dst); }
template <class T>
void load_entry(const CheckpointEntry& e, const cuda::DeviceTensor<T>& dst) {
  Tensor<T> host(dst.shape());
  e.copy_to(host);
  memory<backend::Cuda>::upload(host, dst);
}

/// Checks that entry `name` exists, is floating point and has tensor t's shape.
template <class AnyTensor>
const CheckpointEntry* check_float_entry(const std::map<std::string, const CheckpointEntry*>& by_name,
                                         const std::string& name, const AnyTensor& t, RestoreProblems& out) {
  auto it = by_name.find(name);
  if (it == by_name.end()) {
    out.add("missing tensor '" + name + "'");
    return nullptr;
  }
  const CheckpointEntry& e = *it->second;
  if (!e.is_floating()) {
    out.add("tensor '" + name + "' has dtype " + dtype_name(e.dtype) + ", expected f32 or f64");
    return nullptr;
  }
  if (!e.same_shape(t.shape())) {
    out.add("tensor '" + name + "' has shape " + e.shape_str() + " in the checkpoint but " + t.shape().str() +
            " in the model");
    return nullptr;
  }
  return &e;
}

inline std::map<std::string, const CheckpointEntry*> index_entries(const Checkpoint& ck) {
  std::map<std::string, const CheckpointEntry*> m;
  for (const auto& e : ck.entries) m.emplace(e.name, &e);
  return m;
}
inline bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}
}  // namespace detail

/// Stores every parameter's value as `prefix + name`, in its own dtype.
/// Parameter names may not contain '/' (it marks non-parameter sections).
template <class T, class B = backend::Cpu>
void add_parameters(Checkpoint& ck, const std::vector<Parameter<T, B>*>& params, const std::string& prefix = "") {
  for (const Parameter<T, B>* p : params) {
    if (p->name.empty() || p->name.find('/') != std::string::npos)
      throw CheckpointError("add_parameters: parameter name '" + p->name + "' must be non-empty and contain no '/'");
    ck.add(CheckpointEntry::from_tensor(prefix + p->name, detail::on_host(p->value)));
  }
}

/// Loads `prefix + name` into each parameter's value (f32 <-> f64 converted).
/// With `strict`, an entry under `prefix` that matches no parameter is an
/// error too; entries with a '/' after the prefix belong to other sections
/// (optimizer state) and are ignored. Validates everything before copying.
template <class T, class B = backend::Cpu>
void restore_parameters(const Checkpoint& ck, const std::vector<Parameter<T, B>*>& params, bool strict = true,
                        const std::string& prefix = "") {
  const auto by_name = detail::index_entries(ck);
  detail::RestoreProblems problems;
  std::vector<const CheckpointEntry*> source(params.size(), nullptr);
  std::map<std::string, int> wanted;
  for (std::size_t i = 0; i < params.size(); ++i) {
    const std::string key = prefix + params[i]->name;
    if (++wanted[key] == 2) problems.add("parameter '" + key + "' is listed twice");
    source[i] = detail::check_float_entry(by_name, key, params[i]->value, problems);
  }
  if (strict)
    for (const auto& e : ck.entries)
      if (detail::starts_with(e.name, prefix) && e.name.find('/', prefix.size()) == std::string::npos &&
          !wanted.count(e.name))
        problems.add("unexpected tensor '" + e.name + "' (no parameter of that name; strict = true)");
  problems.throw_if_any("restore_parameters");
  for (std::size_t i = 0; i < params.size(); ++i) detail::load_entry(*source[i], params[i]->value);
}

/// Stores the optimizer's state tensors, step counter (i64) and current rate
/// (f64) under `section`, and its kind in meta[section + "kind"].
template <class T, class B = backend::Cpu>
void add_optimizer_state(Checkpoint& ck, optim::Optimizer<T, B>& opt, const std::string& section = optimizer_section) {
  ck.meta[section + "kind"] = opt.kind();
  for (const auto& [name, t] : opt.state()) ck.add(CheckpointEntry::from_tensor(section + name, detail::on_host(*t)));
  ck.add(CheckpointEntry::from_values<std::int64_t>(section + "steps", {static_cast<std::int64_t>(opt.steps())}));
  ck.add(CheckpointEntry::from_values<double>(section + "lr", {opt.lr()}));
}

/// Restores what add_optimizer_state stored: the kinds must match and the
/// state must cover exactly this optimizer's parameters. All or nothing.
template <class T, class B = backend::Cpu>
void restore_optimizer_state(const Checkpoint& ck, optim::Optimizer<T, B>& opt,
                             const std::string& section = optimizer_section) {
  const std::string who = "restore_optimizer_state";
  auto kind = ck.meta.find(section + "kind");
  if (kind == ck.meta.end()) throw CheckpointError(who + ": no optimizer state under '" + section + "'");
  if (kind->second != opt.kind())
    throw CheckpointError(who + ": the checkpoint holds '" + kind->second + "' state, the optimizer is '" +
                          opt.kind() + "'");
  const auto by_name = detail::index_entries(ck);
  detail::RestoreProblems problems;
  auto scalar = [&](const std::string& name, DType dtype) -> const CheckpointEntry* {
    auto it = by_name.find(section + name);
    if (it == by_name.end()) problems.add("missing tensor '" + section + name + "'");
    else if (it->second->dtype != dtype || it->second->numel() != 1)
      problems.add("tensor '" + section + name + "' must be one " + dtype_name(dtype) + " value");
    else return it->second;
    return nullptr;
  };
  const CheckpointEntry* steps = scalar("steps", DType::i64);
  const CheckpointEntry* lr = scalar("lr", DType::f64);
  const auto state = opt.state();
  std::map<std::string, int> wanted{{section + "steps", 1}, {section + "lr", 1}};
  std::vector<const CheckpointEntry*> source;
  for (const auto& [name, t] : state) {
    wanted[section + name] = 1;
    source.push_back(detail::check_float_entry(by_name, section + name, *t, problems));
  }
  for (const auto& e : ck.entries)
    if (detail::starts_with(e.name, section) && !wanted.count(e.name))
      problems.add("unexpected tensor '" + e.name + "' (this optimizer has no such state)");
  std::int64_t step_count = 0;
  double rate = 0;
  if (steps) step_count = steps->values<std::int64_t>()[0];
  if (lr) rate = lr->values<double>()[0];
  if (steps && step_count < 0) problems.add("negative step count " + std::to_string(step_count));
  if (lr && !(rate >= 0 && std::isfinite(rate))) problems.add("invalid learning rate " + std::to_string(rate));
  problems.throw_if_any(who);
  for (std::size_t i = 0; i < state.size(); ++i) detail::load_entry(*source[i], *state[i].second);
  opt.set_steps(static_cast<std::uint64_t>(step_count));
  opt.set_lr(rate);
}

}  // namespace metarec
