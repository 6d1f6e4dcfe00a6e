// A synthetic GPU calibration for the simulator's tests: the GPU's curve a 0.7,
// P = 100 + 300·(f/2000)³ over 900-2000 MHz by 20, forward and backward curves of their own,
// blocking power 60 W; cap_w 0 = no power cap.
#pragma once

#include "core/proto/sim.pb.h"

namespace joule::testing {

inline joule::pb::GpuCalibration synthetic(double cap_w) {
  joule::pb::GpuCalibration c;
  c.set_name("synthetic");
  c.set_f_min_mhz(900);
  c.set_f_max_mhz(2000);
  c.set_f_step_mhz(20);
  c.set_time_sensitivity_a(0.7);
  c.set_static_w(100);
  c.set_dynamic_w(300);
  c.set_gamma(3);
  c.set_power_cap_w(cap_w);
  joule::pb::PhaseCurve* forward = c.mutable_forward();
  forward->set_time_sensitivity_a(0.8);
  forward->set_static_w(120);
  forward->set_dynamic_w(330);
  forward->set_gamma(3.5);
  joule::pb::PhaseCurve* backward = c.mutable_backward();
  backward->set_time_sensitivity_a(0.6);
  backward->set_static_w(90);
  backward->set_dynamic_w(280);
  backward->set_gamma(2.5);
  c.set_blocking_power_w(60);
  return c;
}

}  // namespace joule::testing
