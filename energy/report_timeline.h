// The energy controller part of joule-report (energy/report.h): the decision timeline read from
// metrics.jsonl's decision lines (pb::DecisionRecord), what a marginal-gain stop saved (summary.json),
// and the overlay of the accuracy-against-energy plot: the stop rule's fitted curve, the stop point,
// the predicted full-budget point and the knob changes.
//
// The fitted curve is the one of the stop rule (energy/stop_rule.h), read back from the detail of
// the last decision whose detail is a fit ({"ok":true,"alpha":..,"beta":..,"c":..,"e_ref_kj":..}):
//     y = α + β·h(E/E_ref; c),   h(x; c) = (1 − x^(−c))/c   (ln x at c = 0),
// y the test accuracy in percent, E the cumulative job energy in kJ. The detail text is parsed with
// protobuf's JSON parser into google.protobuf.Struct; a detail that does not parse is no fit.
// Invariants: the timeline is in step order (stable: same-step decisions keep their file order); a
// run without decision lines gets no timeline, no outcome and no overlay (its report is unchanged).
#pragma once

#include <string>
#include <vector>

#include "core/proto/records.pb.h"
#include "core/proto/report.pb.h"
#include "energy/svg_plot.h"

namespace joule::energy {

// Fills report.timeline from `decisions` (metrics.jsonl order), each with the setting in force after
// it: rank 0's first window with step_first > step, else the first train line with step > step.
// Sets report.controller when report.summary (read before) stopped by marginal_gain with
// full_budget_energy_j > 0.
void add_timeline(const std::vector<pb::DecisionRecord>& decisions, const std::vector<pb::RankWindowRecord>& rank0,
                  const std::vector<pb::TrainRecord>& train, pb::RunReport& report);

// "decision timeline" section: one line per decision (step, energy kJ, what, reason shortened to
// max_reason characters), then the controller line when report.controller is set; "" without decisions.
std::string format_timeline(const pb::RunReport& report, size_t max_reason = 110);

struct FittedCurve {
  bool ok = false;
  double alpha = 0, beta = 0, c = 0, e_ref_kj = 1;  // percent, kJ
  uint32_t step = 0;                                // of the decision that carried it
};
// The fit of the last decision whose detail carries one; ok = false if none.
FittedCurve last_fitted_curve(const pb::RunReport& report);
// Fitted accuracy in percent at energy_kj > 0.
double fitted_accuracy_pct(const FittedCurve& curve, double energy_kj);

// A short label of a knob change: "512/bf16", "512/bf16 1410 MHz", "1410 MHz"; `what` if unknown.
std::string knob_label(const pb::ControllerDecision& decision);

// Adds to the accuracy panel (x in kJ, y in percent; its series are the eval points) the fitted
// curve sampled at `samples` evenly spaced energies over the plotted range (from the lowest eval
// energy to the largest of the last eval, the stop and the full-budget energy; class "fit", and
// "fit-extrapolated" past the last eval), the stop point (class "stop": the accuracy and energy of
// the evaluation that fired it; the decision's energy if none has its step), the predicted full-budget
// point (class "full-budget") and a vertical line per knob change (class "knob-change").
void add_controller_overlay(const pb::RunReport& report, const std::vector<pb::EvalRecord>& evals, PlotPanel& panel,
                            int samples = 120);

}  // namespace joule::energy
