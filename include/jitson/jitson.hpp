// The whole C++ API of jitson.
#pragma once

#include "jitson/bindspace.hpp"
#include "jitson/config.hpp"
#include "jitson/cpu.hpp"
#include "jitson/database.hpp"
#include "jitson/engine.hpp"
#include "jitson/error.hpp"
#include "jitson/jitson.h"
#include "jitson/kernels.hpp"
#include "jitson/metric.hpp"
#include "jitson/plan.hpp"
#include "jitson/popcount.hpp"
#include "jitson/scan.hpp"
#include "jitson/topk.hpp"
