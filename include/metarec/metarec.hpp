#pragma once
/// @file metarec.hpp
/// The whole public CPU API in one include: data readers and splits, the
/// autodiff tape and its ops, nn layers, optimizers, the three backbones,
/// the quantizers, Recommender, training and evaluation, the meta-learners
/// (MetaRec transfer) and MISSRec. Including single headers instead builds
/// faster; every header includes what it uses. The CUDA backend is separate
/// (`metarec/cuda/cuda.hpp`, target metarec::cuda).
#include "metarec/core/error.hpp"
#include "metarec/core/parallel.hpp"
#include "metarec/core/random.hpp"
#include "metarec/core/tensor.hpp"
#include "metarec/core/xtensor_interop.hpp"

#include "metarec/data/all.hpp"

#include "metarec/autograd.hpp"
#include "metarec/autograd/gradcheck.hpp"

#include "metarec/nn/attention.hpp"
#include "metarec/nn/embedding.hpp"
#include "metarec/nn/feed_forward.hpp"
#include "metarec/nn/gru.hpp"
#include "metarec/nn/layer_norm.hpp"
#include "metarec/nn/linear.hpp"
#include "metarec/nn/transformer.hpp"

#include "metarec/optim/optim.hpp"

#include "metarec/eval/full_ranking.hpp"
#include "metarec/eval/metrics.hpp"
#include "metarec/eval/sampled.hpp"

#include "metarec/model/contract.hpp"
#include "metarec/recommender/recommender.hpp"
#include "metarec/backbones/bert4rec.hpp"
#include "metarec/backbones/gru4rec.hpp"
#include "metarec/backbones/sasrec.hpp"
#include "metarec/quantizers/identity.hpp"
#include "metarec/quantizers/multi_head_vq.hpp"
#include "metarec/quantizers/product_quantizer.hpp"

#include "metarec/train/checkpoint.hpp"
#include "metarec/train/evaluate.hpp"
#include "metarec/train/pretrained.hpp"
#include "metarec/train/trainer.hpp"

#include "metarec/meta/transfer.hpp"

#include "metarec/multimodal/missrec.hpp"
#include "metarec/multimodal/missrec_train.hpp"
#include "metarec/multimodal/text_features.hpp"
