// metarec stats FILE: users, items, interactions and the length distribution;
// --items-out writes the item index -> original id table of the item order
// that training on FILE uses (feature file row r = index r).
#include <fmt/core.h>

#include "commands.hpp"
#include "common.hpp"

namespace metarec::cli {

void setup_stats(CLI::App& app) {
  auto* cmd = app.add_subcommand("stats", "print dataset statistics (users, items, interactions, lengths)");
  auto d = std::make_shared<DataOptions>();
  cmd->add_option("file", d->path, "interaction file (or unisrec split prefix)")->required();
  cmd->add_option("--format", d->format, "s3rec|pairs|atomic|unisrec|inter")
      ->check(CLI::IsMember({"s3rec", "pairs", "atomic", "unisrec", "inter"}))
      ->capture_default_str();
  cmd->add_flag("--lenient", d->lenient, "skip and count malformed records");
  auto json_out = std::make_shared<bool>(false);
  cmd->add_flag("--json", *json_out, "print JSON instead of text");
  auto items_out = std::make_shared<std::string>();
  cmd->add_option("--items-out", *items_out,
                  "write 'original_id<TAB>index' per item (X.item2index format): row `index` of a feature file for "
                  "this data (train/pretrain/finetune with the same --format and --lenient) is that item");
  cmd->callback([d, json_out, items_out] {
    data::ReadOptions ro;
    ro.lenient = d->lenient;
    // The same readers, hence the same item indices, as training on this file.
    const data::Domain dom = data::load_domain(d->path, data::parse_format(d->format), ro);
    if (!items_out->empty()) data::write_item_index(*items_out, dom);
    const auto s = data::stats(dom);
    if (*json_out) {
      json j{{"name", s.name}, {"users", s.users}, {"items", s.items}, {"n_items", s.n_items},
             {"interactions", s.interactions}, {"min_length", s.min_length}, {"max_length", s.max_length},
             {"mean_length", s.mean_length}, {"median_length", s.median_length}, {"load", to_json(dom.report)}};
      if (!items_out->empty()) j["items_out"] = *items_out;
      fmt::print("{}\n", j.dump(2));
    } else {
      fmt::print("{}", data::format_stats(s));
      if (dom.report.skipped() > 0) fmt::print("skipped records: {}\n", dom.report.skipped());
      if (!items_out->empty())
        fmt::print("item index table: {} rows (original_id<TAB>index) -> {}\n", dom.n_items, *items_out);
    }
  });
}

}  // namespace metarec::cli
