// metarec train: single-domain training with early stopping; writes
// DIR/result.json (documented in docs/cli.md) and DIR/model.ckpt.
#include <fmt/core.h>

#include <filesystem>

#include "commands.hpp"
#include "common.hpp"
#include "metarec/core/parallel.hpp"
#include "metarec/train/checkpoint.hpp"
#include "metarec/train/progress.hpp"
#include "registry.hpp"

namespace metarec::cli {

namespace {
struct TrainArgs {
  DataOptions data;
  ModelOptions model;
  train::TrainerConfig trainer;
  std::string loss = "ce", out;
  int threads = 0;
  bool sparse_items = false;
};

void run_train(TrainArgs& a) {
  if (a.threads > 0) set_num_threads(a.threads);
  a.trainer.loss = parse_loss(a.loss);
  const json model_json = validated_model_config(a.model);
  a.trainer.validate();
  json config{{"command", "train"}, {"backbone", a.model.backbone}, {"quantizer", a.model.quantizer},
              {"model", model_json}, {"trainer", to_json(a.trainer)}, {"data", to_json(a.data)},
              {"threads", num_threads()}, {"sparse_items", a.sparse_items}};
  fmt::print(stderr, "effective config: {}\n", config.dump());
  LoadedData d = load_data(a.data);
  fmt::print(stderr, "{}: {} users, {} items, {} train users\n", d.domain.name, d.domain.n_users(), d.domain.n_items,
             d.split.train_users.size());
  with_model(a.model.backbone, a.model.quantizer, [&]<class Model>() {
    Model model(model_config<Model>(a.model), a.trainer.seed);
    model.set_sparse_item_tables(a.sparse_items);
    const int k = model.add_domain(d.domain.name, d.domain.n_items);
    attach_item_features(model, k, d);
    train::ProgressReporter progress;
    train::TrainResult r = train::fit(model, k, d.split, a.trainer, progress);
    json history = json::array();
    for (const auto& e : r.history) {
      json h{{"epoch", e.epoch}, {"loss", e.loss}, {"seconds", e.seconds}, {"sequences_per_s", e.sequences_per_s}};
      if (e.evaluated) h["valid"] = to_json(e.valid);
      history.push_back(h);
    }
    json record{{"config", config},
                {"dataset", {{"name", d.domain.name}, {"users", d.domain.n_users()}, {"items", d.domain.n_items},
                             {"interactions", d.domain.n_interactions()}, {"load", to_json(d.domain.report)}}},
                {"protocol", protocol_json(a.trainer.eval)},
                {"best_epoch", r.best_epoch},
                {"epochs_run", r.epochs_run},
                {"early_stopped", r.early_stopped},
                {"valid", to_json(r.valid)},
                {"test", to_json(r.test)},
                {"timing", {{"train_sequences_per_s", r.train_sequences_per_s},
                            {"eval_users_per_s", r.eval_users_per_s},
                            {"train_seconds", r.train_seconds}}},
                {"history", history}};
    fmt::print("test: {}\n", r.test.str());
    if (!a.out.empty()) {
      std::filesystem::create_directories(a.out);
      write_json(a.out + "/result.json", record);
      Checkpoint ck;
      ck.meta["config"] = config.dump();
      ck.meta["domain"] = d.domain.name;
      ck.meta["n_items"] = std::to_string(d.domain.n_items);
      add_parameters(ck, model.parameters().all());
      save_checkpoint(a.out + "/model.ckpt", ck);
      fmt::print(stderr, "wrote {}/result.json and {}/model.ckpt\n", a.out, a.out);
    } else {
      fmt::print("{}\n", record.dump(2));
    }
  });
}
}  // namespace

void setup_train(CLI::App& app) {
  auto* cmd = app.add_subcommand("train", "train a sequential recommender on one domain (leave-one-out, full ranking)");
  auto a = std::make_shared<TrainArgs>();
  cmd->add_option("--config", "JSON file with any of these options (the command line wins)");  // expanded in main()
  add_data_options(*cmd, a->data);
  add_model_options(*cmd, a->model);
  add_trainer_options(*cmd, a->trainer, a->loss, a->threads);
  cmd->add_flag("--sparse-items", a->sparse_items,
                "item tables take row-sparse gradients and lazy optimizer updates (only the rows a batch touches, "
                "as torch.optim.SparseAdam): with sampled-softmax, gbce, bce or bpr a step then costs the same "
                "for any catalogue size");
  cmd->add_option("--out", a->out, "directory for result.json and model.ckpt (default: print JSON)");
  cmd->callback([a] { run_train(*a); });
}

}  // namespace metarec::cli
