#pragma once
/// @file sequence_view.hpp
/// The two layouts a batch of item sequences takes inside a model.
#include <cstdint>

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

}  // namespace metarec
