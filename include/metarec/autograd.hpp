#pragma once
/// @file autograd.hpp
/// The tape and every differentiable op.
#include "metarec/autograd/tape.hpp"
#include "metarec/autograd/ops/elementwise.hpp"
#include "metarec/autograd/ops/linear.hpp"
#include "metarec/autograd/ops/reduce.hpp"
#include "metarec/autograd/ops/shape.hpp"
