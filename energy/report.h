// Per-rank and total energy accounting of a run directory (DESIGN.md §1, `joule-report`), for a
// finished run and for a crashed one alike.
//
// Reads every rank-RRRRR.jsonl (pb::RankWindowRecord per line), summary.json (pb::Summary) when the
// run finished, and the eval lines of metrics.jsonl (pb::EvalRecord). The logs are written a whole
// line at a time, so a killed run leaves at most an unterminated last line: that line, and any line
// that does not parse, is skipped and counted, never fatal. Aggregates (pb::RunReport in
// core/proto/report.proto): per rank the sums over its windows; in total the sums over ranks, except
// seconds, the longest rank (they run side by side). Units: joules, seconds, watts.
#pragma once

#include <string>
#include <vector>

#include "core/proto/records.pb.h"
#include "core/proto/report.pb.h"
#include "energy/svg_plot.h"

namespace joule::energy {

struct RunReport {
  pb::RunReport accounting;  // what the table and --json show
  // The windows of each rank, in the order of accounting.ranks: the power timeline.
  std::vector<std::vector<pb::RankWindowRecord>> windows;
  std::vector<pb::EvalRecord> evals;  // metrics.jsonl eval lines in file order
};

// Reads the run directory. Invalid input (joule::Error, exit 2) naming the path: it does not exist,
// is not a directory, holds neither rank logs nor summary.json, or summary.json does not parse.
RunReport load_run_report(const std::string& run_dir);

// A fixed-width table: one row per rank and a total row (windows, seconds, J, average W, share of
// time in comm wait, samples, J per sample, source — "(estimate)" where not measured), then the
// energy split by phase and by domain, the summary facts and the notes.
std::string format_report_table(const RunReport& report);

// accounting as one JSON object (snake_case names, every field printed), ending with a newline.
std::string report_json(const RunReport& report);

// The two-panel figure: average power per rank over time (x: window end relative to the first
// window's start), and test accuracy against cumulative energy (the eval lines).
PlotFigure report_figure(const RunReport& report);
inline std::string report_svg(const RunReport& report) { return render_svg(report_figure(report)); }

}  // namespace joule::energy
