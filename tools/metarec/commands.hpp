#pragma once
// Each sub-command registers its options and its callback on the app.
#include <CLI/CLI.hpp>

namespace metarec::cli {
void setup_train(CLI::App& app);
void setup_tune(CLI::App& app);
void setup_stats(CLI::App& app);
void setup_evaluate(CLI::App& app);
void setup_recommend(CLI::App& app);
void setup_transfer(CLI::App& app);
void setup_missrec(CLI::App& app);
void setup_featurize(CLI::App& app);
}  // namespace metarec::cli
