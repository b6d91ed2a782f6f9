#pragma once
/// @file sequence_view.hpp
/// The two layouts a batch of item sequences takes inside a model.
#include <algorithm>
#include <cstdint>
#include <span>
#include <string>

#include "metarec/core/error.hpp"
#include "metarec/core/tensor.hpp"

namespace metarec {

/// Padded layout: ids and padding mask, row-major [B, L].
struct SequenceView {
  index_t batch = 0, length = 0;
  const std::int32_t* items = nullptr;  ///< 0 = padding
  const std::uint8_t* mask = nullptr;   ///< nonzero = real item
};

/// Packed layout: the real items of B sequences stacked row after row.
/// Sequence b owns rows [offsets[b], offsets[b+1]); positions[r] is the
/// position id of row r counted so that the last item of every sequence has
/// position max_len - 1 (the same ids a left-padded window would give).
/// Nothing is computed for padding: on short-sequence data (Beauty, ~9 items
/// per user) this is most of the work of a padded batch.
struct PackedView {
  index_t sequences = 0;
  index_t rows = 0;
  const std::int32_t* offsets = nullptr;    ///< [sequences + 1]
  const std::int32_t* positions = nullptr;  ///< [rows]
};

/// Columns an inference window needs for the last `room` items of each history
/// (at least 1, so an all-empty batch still has a shape).
inline index_t recent_window_length(std::span<const std::span<const std::int32_t>> histories, index_t room) {
  index_t L = 1;
  for (auto& h : histories) L = std::max<index_t>(L, std::min<index_t>(static_cast<index_t>(h.size()), room));
  return L;
}

/// Fills ids/mask [B, L] with the last min(|h|, room) items of every history,
/// left-padded and ending at column L - 1 - reserved (the `reserved` trailing
/// columns are the caller's, e.g. a cloze [MASK]). Shared by every model's
/// inference path so that all of them reject an item outside 1..n_items of
/// domain `domain` the same way (ShapeError naming `who`).
inline SequenceView fill_recent_window(std::span<const std::span<const std::int32_t>> histories, index_t L,
                                       index_t room, index_t reserved, index_t n_items, const std::string& domain,
                                       const char* who, std::int32_t* ids, std::uint8_t* mask) {
  const index_t B = static_cast<index_t>(histories.size());
  std::fill_n(ids, B * L, 0);
  std::fill_n(mask, B * L, std::uint8_t(0));
  const index_t end = L - reserved;
  for (index_t b = 0; b < B; ++b) {
    auto h = histories[static_cast<std::size_t>(b)];
    const index_t n = std::min<index_t>(static_cast<index_t>(h.size()), std::min(room, end));
    for (index_t j = 0; j < n; ++j) {
      const std::int32_t item = h[h.size() - static_cast<std::size_t>(n - j)];
      if (item < 1 || item > n_items)
        throw ShapeError(std::string(who) + ": item " + std::to_string(item) + " outside 1.." +
                         std::to_string(n_items) + " of domain '" + domain + "'");
      ids[b * L + end - n + j] = item;
      mask[b * L + end - n + j] = 1;
    }
  }
  return SequenceView{B, L, ids, mask};
}

}  // namespace metarec
