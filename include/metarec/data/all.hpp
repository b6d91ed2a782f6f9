#pragma once
/// @file all.hpp
/// Everything in metarec::data, plus load_domain: one entry point that picks
/// the reader from the file (used by `metarec stats FILE`).
#include <string>
#include <string_view>

#include "metarec/data/atomic_item.hpp"
#include "metarec/data/attributes.hpp"
#include "metarec/data/batching.hpp"
#include "metarec/data/dataset.hpp"
#include "metarec/data/features.hpp"
#include "metarec/data/readers.hpp"
#include "metarec/data/split.hpp"
#include "metarec/data/stats.hpp"
#include "metarec/data/text.hpp"
#include "metarec/data/unisrec.hpp"

namespace metarec::data {

enum class Format { automatic, sequences, pairs, atomic, unisrec_split, inter_sequences };

/// Format by the CLI's name: auto, s3rec, pairs, atomic, unisrec (split
/// prefix X of X.{train,valid,test}.inter), inter (one whole sequence per row).
/// @throws ConfigError for any other name.
inline Format parse_format(std::string_view name) {
  if (name == "auto") return Format::automatic;
  if (name == "s3rec") return Format::sequences;
  if (name == "pairs") return Format::pairs;
  if (name == "atomic") return Format::atomic;
  if (name == "unisrec") return Format::unisrec_split;
  if (name == "inter") return Format::inter_sequences;
  throw ConfigError("unknown interaction format '" + std::string(name) + "' (auto, s3rec, pairs, atomic, unisrec, inter)");
}

/// Format::automatic: `X.train.inter` / `X.valid.inter` / `X.test.inter`
/// next to its two siblings -> UniSRec split (prefix X); another `.inter`
/// whose header has item_id_list -> one whole sequence per row; any other
/// `.inter` -> RecBole atomic; everything else -> S3-Rec per-user sequences.
/// Pair files (`user item` lines) must be asked for explicitly: a sequence
/// file whose users have one item each looks the same.
inline Domain load_domain(const std::string& path, Format format = Format::automatic, const ReadOptions& opt = {}) {
  auto ends_with = [&](const std::string& suf) {
    return path.size() >= suf.size() && path.compare(path.size() - suf.size(), suf.size(), suf) == 0;
  };
  if (format == Format::automatic) {
    format = Format::sequences;
    if (ends_with(".inter")) {
      format = Format::atomic;
      for (const char* part : {".train.inter", ".valid.inter", ".test.inter"}) {
        if (!ends_with(part)) continue;
        const std::string prefix = path.substr(0, path.size() - std::string(part).size());
        if (std::ifstream(prefix + ".train.inter") && std::ifstream(prefix + ".valid.inter") &&
            std::ifstream(prefix + ".test.inter"))
          return read_unisrec_split(prefix, opt).domain;
      }
      auto in = detail::open_input(path);
      std::string header;
      std::getline(in, header);
      if (header.find("item_id_list:") != std::string::npos) format = Format::inter_sequences;
    }
  }
  switch (format) {
    case Format::pairs: return read_pairs(path, opt);
    case Format::atomic: return read_atomic_inter(path, opt);
    case Format::inter_sequences: return read_inter_sequences(path, opt);
    case Format::unisrec_split: {
      std::string prefix = path;
      for (const char* part : {".train.inter", ".valid.inter", ".test.inter"})
        if (ends_with(part)) prefix = path.substr(0, path.size() - std::string(part).size());
      return read_unisrec_split(prefix, opt).domain;
    }
    default: return read_sequences(path, opt);
  }
}

}  // namespace metarec::data
