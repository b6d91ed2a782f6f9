#pragma once
/// @file optim.hpp
/// Optimizers (SGD, Adam, AdamW), gradient clipping and learning-rate schedules.
#include "metarec/optim/adam.hpp"
#include "metarec/optim/clip.hpp"
#include "metarec/optim/make.hpp"
#include "metarec/optim/optimizer.hpp"
#include "metarec/optim/schedule.hpp"
#include "metarec/optim/sgd.hpp"
