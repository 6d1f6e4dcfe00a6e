#include "energy/report.h"

#include "energy/rank_log_reader.h"
#include "energy/report_knobs.h"
#include "energy/report_timeline.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>

#include "core/error.h"
#include "core/file_util.h"
#include "core/json_record.h"

namespace joule::energy {
namespace {

namespace fs = std::filesystem;
namespace gp = google::protobuf;

double ratio(double num, double den) { return den > 0 ? num / den : 0; }

std::string plural(size_t n, const char* word) { return std::to_string(n) + " " + word + (n == 1 ? "" : "s"); }

// Adds every double field of `from` to `to` (PhaseBreakdown, DomainEnergy): new phases or domains in
// the schema are summed without touching this file.
void add_doubles(gp::Message* to, const gp::Message& from) {
  const gp::Descriptor* d = to->GetDescriptor();
  const gp::Reflection* r = to->GetReflection();
  for (int i = 0; i < d->field_count(); ++i) {
    const gp::FieldDescriptor* f = d->field(i);
    if (f->cpp_type() == gp::FieldDescriptor::CPPTYPE_DOUBLE && !f->is_repeated())
      r->SetDouble(to, f, r->GetDouble(*to, f) + r->GetDouble(from, f));
  }
}

// metrics.jsonl: eval lines into report.evals, decision and train lines into the other two.
void read_metrics(const std::string& path, RunReport& report, std::vector<pb::DecisionRecord>& decisions,
                  std::vector<pb::TrainRecord>& train, uint32_t* skipped, uint32_t* corrupt) {
  for_each_json_line(path, "metrics log", skipped, corrupt, [&](const std::string& line) {
    pb::EvalRecord eval;  // every line has kind and step; the rest of a non-eval line is unknown here
    if (!parse_json_line(line, &eval)) return false;
    if (eval.kind() == "eval") {
      report.evals.push_back(std::move(eval));
    } else if (eval.kind() == "decision") {
      pb::DecisionRecord d;
      if (!parse_json_line(line, &d)) return false;
      decisions.push_back(std::move(d));
    } else if (eval.kind() == "train") {
      pb::TrainRecord t;
      if (!parse_json_line(line, &t)) return false;
      train.push_back(std::move(t));
    }
    return true;
  });
}

// rank-RRRRR.jsonl → R; -1 for any other name.
long rank_of_file(const std::string& name) {
  const std::string prefix = "rank-", suffix = ".jsonl";
  if (name.size() <= prefix.size() + suffix.size() || name.rfind(prefix, 0) != 0 ||
      name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0)
    return -1;
  const std::string digits = name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
  if (digits.size() > 9 || digits.find_first_not_of("0123456789") != std::string::npos) return -1;
  return std::stol(digits);
}

pb::RankReport rank_report(uint32_t rank, const std::string& file, const std::vector<pb::RankWindowRecord>& windows,
                           uint32_t skipped) {
  pb::RankReport r;
  r.set_rank(rank);
  r.set_file(file);
  r.set_windows(static_cast<uint32_t>(windows.size()));
  r.set_skipped_lines(skipped);
  if (!windows.empty()) r.set_host(windows.front().host());
  std::set<std::string> sources;
  bool measured = !windows.empty();
  for (const pb::RankWindowRecord& w : windows) {
    r.set_seconds(r.seconds() + (w.t_end() - w.t_start()));
    r.set_energy_j(r.energy_j() + w.energy_j().total());
    r.set_comm_wait_s(r.comm_wait_s() + w.seconds().comm_wait());
    r.set_samples(r.samples() + w.samples());
    add_doubles(r.mutable_phase_energy_j(), w.phase_energy_j());
    add_doubles(r.mutable_domain_energy_j(), w.energy_j());
    sources.insert(w.sources().begin(), w.sources().end());
    measured = measured && w.measured();
  }
  r.set_avg_power_w(ratio(r.energy_j(), r.seconds()));
  r.set_comm_wait_share(ratio(r.comm_wait_s(), r.seconds()));
  r.set_j_per_sample(ratio(r.energy_j(), r.samples()));
  for (const std::string& s : sources) r.add_sources(s);
  r.set_measured(measured);
  return r;
}

pb::ReportTotal total_of(const pb::RunReport& report) {
  pb::ReportTotal t;
  std::set<std::string> sources;
  double rank_seconds = 0, comm_wait = 0;
  bool measured = report.ranks_size() > 0;
  for (const pb::RankReport& r : report.ranks()) {
    t.set_windows(t.windows() + r.windows());
    t.set_seconds(std::max(t.seconds(), r.seconds()));
    t.set_energy_j(t.energy_j() + r.energy_j());
    t.set_samples(t.samples() + r.samples());
    add_doubles(t.mutable_phase_energy_j(), r.phase_energy_j());
    add_doubles(t.mutable_domain_energy_j(), r.domain_energy_j());
    sources.insert(r.sources().begin(), r.sources().end());
    measured = measured && r.measured();
    rank_seconds += r.seconds();
    comm_wait += r.comm_wait_s();
  }
  t.set_ranks(static_cast<uint32_t>(report.ranks_size()));
  t.set_avg_power_w(ratio(t.energy_j(), t.seconds()));
  t.set_comm_wait_share(ratio(comm_wait, rank_seconds));
  t.set_j_per_sample(ratio(t.energy_j(), t.samples()));
  for (const std::string& s : sources) t.add_sources(s);
  t.set_measured(measured);
  return t;
}

std::string source_label(const gp::RepeatedPtrField<std::string>& sources, bool measured) {
  std::string label;
  for (const std::string& s : sources) label += (label.empty() ? "" : "+") + s;
  if (label.empty()) return "none";
  if (!measured && label.find("estimate") == std::string::npos) label += " (estimate)";
  return label;
}

std::string format(const char* fmt, double v) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, fmt, v);
  return buffer;
}

// "share (J)" per double field of a PhaseBreakdown or DomainEnergy, skipping zeros and `skip`.
std::string split_line(const gp::Message& parts, double total, const std::string& skip = "") {
  const gp::Descriptor* d = parts.GetDescriptor();
  std::string line;
  for (int i = 0; i < d->field_count(); ++i) {
    const gp::FieldDescriptor* f = d->field(i);
    if (f->cpp_type() != gp::FieldDescriptor::CPPTYPE_DOUBLE || f->name() == skip) continue;
    const double v = parts.GetReflection()->GetDouble(parts, f);
    if (v == 0) continue;
    line += (line.empty() ? "" : ", ") + f->name() + " " + format("%.1f J", v) + " (" +
            format("%.1f%%", 100 * ratio(v, total)) + ")";
  }
  return line;
}

}  // namespace

RunReport load_run_report(const std::string& run_dir) {
  std::error_code ec;
  JOULE_CHECK(fs::exists(run_dir, ec), "run directory \"", run_dir, "\" does not exist");
  JOULE_CHECK(fs::is_directory(run_dir, ec), "run directory \"", run_dir, "\" is not a directory");
  const fs::path dir(run_dir);

  std::map<uint32_t, std::string> logs;  // rank → file name, sorted by rank
  std::error_code list_error, ignored;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir, list_error)) {
    const long rank = rank_of_file(entry.path().filename().string());
    if (rank >= 0 && entry.is_regular_file(ignored))
      logs[static_cast<uint32_t>(rank)] = entry.path().filename().string();
  }
  JOULE_CHECK(!list_error, "run directory \"", run_dir, "\": cannot list it (", list_error.message(), ")");
  const fs::path summary_path = dir / "summary.json";
  const bool finished = fs::is_regular_file(summary_path, ec);
  JOULE_CHECK(!logs.empty() || finished, "run directory \"", run_dir,
              "\" holds no rank-*.jsonl logs and no summary.json: not a joule run directory");

  RunReport report;
  pb::RunReport& a = report.accounting;
  a.set_run_dir(run_dir);
  fs::path named = fs::absolute(dir, ec).lexically_normal();  // "runs/r1/" and "." have names too
  if (named.filename().empty()) named = named.parent_path();
  a.set_run_name(named.filename().string());
  std::string torn_by_file, corrupt_by_file;
  std::vector<std::string> unreadable;  // files that could not be read at all, with why
  auto count_skipped = [&](const std::string& file, uint32_t n, uint32_t corrupt) {
    a.set_skipped_lines(a.skipped_lines() + n);
    a.set_corrupt_lines(a.corrupt_lines() + corrupt);
    if (n > corrupt) torn_by_file += (torn_by_file.empty() ? "" : ", ") + file;
    if (corrupt > 0) corrupt_by_file += (corrupt_by_file.empty() ? "" : ", ") + file + ": " + std::to_string(corrupt);
  };

  // one unreadable file does not hide the others: it is named in the notes
  uint32_t restarts = 0;  // rank 0's log's (every rank logs each restart)
  for (const auto& [rank, file] : logs) {
    uint32_t skipped = 0, corrupt = 0, rank_restarts = 0;
    try {
      RankLog log = read_rank_log((dir / file).string(), &skipped, &corrupt);
      rank_restarts = log.restarts;
      report.windows.push_back(std::move(log.windows));
      if (rank == 0) restarts = rank_restarts;
    } catch (const Error& e) {
      report.windows.emplace_back();
      unreadable.push_back(e.message());
    }
    *a.add_ranks() = rank_report(rank, file, report.windows.back(), skipped);
    count_skipped(file, skipped, corrupt);
  }
  *a.mutable_total() = total_of(a);

  const fs::path metrics_path = dir / "metrics.jsonl";
  std::vector<pb::DecisionRecord> decisions;
  std::vector<pb::TrainRecord> train;
  if (fs::is_regular_file(metrics_path, ec)) {
    uint32_t skipped = 0, corrupt = 0;
    try {
      read_metrics(metrics_path.string(), report, decisions, train, &skipped, &corrupt);
    } catch (const Error& e) {
      unreadable.push_back(e.message());
    }
    count_skipped("metrics.jsonl", skipped, corrupt);
  }
  a.set_evals(static_cast<uint32_t>(report.evals.size()));

  bool summary_ok = false;
  if (finished) {
    try {
      const std::string text = read_text_file(summary_path.string(), "summary");
      gp::util::JsonParseOptions options;
      options.ignore_unknown_fields = true;
      const auto status = gp::util::JsonStringToMessage(text, a.mutable_summary(), options);
      JOULE_CHECK(status.ok(), "summary \"", summary_path.string(), "\": not a valid summary.json (", status.ToString(),
                  ")");
      a.set_accuracy_per_kj(ratio(a.summary().final_accuracy(), a.summary().energy_j() / 1000));
      summary_ok = true;
    } catch (const Error& e) {  // the rank logs still report
      a.clear_summary();
      unreadable.push_back(e.message());
    }
  }
  a.set_finished(summary_ok);

  // notes, most important first
  for (const std::string& why : unreadable) a.add_notes("unreadable, left out: " + why);
  if (!finished) a.add_notes("no summary.json (run did not finish)");
  if (restarts > 0)
    a.add_notes("resumed " + plural(restarts, "time") +
                " (restart records): the energy includes the steps trained again after each restart");
  const uint32_t torn = a.skipped_lines() - a.corrupt_lines();
  if (torn > 0)
    a.add_notes(plural(torn, "incomplete last line") + " skipped, cut short by a crash (" + torn_by_file + ")");
  if (a.corrupt_lines() > 0)
    a.add_notes(plural(a.corrupt_lines(), "corrupt line") + " skipped: complete lines that are not valid records (" +
                corrupt_by_file + ")");
  if (logs.empty()) a.add_notes("no rank-*.jsonl logs: no per-rank accounting");
  for (const pb::RankReport& r : a.ranks())
    if (r.windows() == 0) a.add_notes("rank " + std::to_string(r.rank()) + ": no complete window in " + r.file());
  if (a.total().windows() > 0 && a.total().energy_j() == 0 && a.total().sources_size() == 0)
    a.add_notes("the rank logs carry no energy figures (written before energy accounting)");
  if (summary_ok && !logs.empty() && a.summary().world_size() != static_cast<uint32_t>(a.ranks_size()))
    a.add_notes("summary.json names " + plural(a.summary().world_size(), "rank") + ", " +
                plural(a.ranks_size(), "rank log") + " found");
  if (!fs::is_regular_file(metrics_path, ec)) a.add_notes("no metrics.jsonl (no accuracy curve)");
  add_knob_view(report.windows, a);
  add_timeline(decisions, report.windows.empty() ? std::vector<pb::RankWindowRecord>{} : report.windows.front(), train,
               a);
  return report;
}

std::string format_report_table(const RunReport& report) {
  const pb::RunReport& a = report.accounting;
  const char* row_format = "%-5s  %-16.16s %7s %8s %10s %8s %10s %9s %9s  %s\n";
  char buffer[512];
  std::string out = "joule-report: run " + a.run_name() + " (" + a.run_dir() + ")\n\n";
  std::snprintf(buffer, sizeof buffer, row_format, "rank", "host", "windows", "seconds", "energy J", "avg W",
                "comm wait", "samples", "J/sample", "source");
  out += buffer;
  // "-" where a ratio has no denominator or the logs carry no energy at all
  auto row = [&](const std::string& rank, const std::string& host, uint32_t windows, double seconds, double joules,
                 double watts, double comm_share, double samples, double j_per_sample,
                 const gp::RepeatedPtrField<std::string>& sources, bool measured) {
    const bool energy = joules > 0 || !sources.empty();
    std::snprintf(buffer, sizeof buffer, row_format, rank.c_str(), host.c_str(), std::to_string(windows).c_str(),
                  format("%.1f", seconds).c_str(), energy ? format("%.1f", joules).c_str() : "-",
                  energy && seconds > 0 ? format("%.1f", watts).c_str() : "-",
                  seconds > 0 ? format("%.1f%%", 100 * comm_share).c_str() : "-", format("%.0f", samples).c_str(),
                  energy && samples > 0 ? format("%.4g", j_per_sample).c_str() : "-",
                  source_label(sources, measured).c_str());
    out += buffer;
  };
  for (const pb::RankReport& r : a.ranks())
    row(std::to_string(r.rank()), r.host().empty() ? "-" : r.host(), r.windows(), r.seconds(), r.energy_j(),
        r.avg_power_w(), r.comm_wait_share(), r.samples(), r.j_per_sample(), r.sources(), r.measured());
  const pb::ReportTotal& t = a.total();
  row("total", plural(t.ranks(), "rank"), t.windows(), t.seconds(), t.energy_j(), t.avg_power_w(), t.comm_wait_share(),
      t.samples(), t.j_per_sample(), t.sources(), t.measured());
  out += "\n";
  if (t.energy_j() > 0) {
    out += "energy by phase:  " + split_line(t.phase_energy_j(), t.energy_j()) + "\n";
    out += "energy by domain: " + split_line(t.domain_energy_j(), t.energy_j(), "total") + "\n";
  }
  out += "(seconds: total = the longest rank; avg W: total = all ranks together; comm wait: share of time)\n";
  if (a.finished()) {
    const pb::Summary& s = a.summary();
    out += "summary: stopped by " + (s.stop_reason().empty() ? std::string("-") : s.stop_reason()) + " after " +
           plural(s.steps(), "step") + format(", %.1f s", s.seconds()) + format(", %.1f J", s.energy_j()) +
           (s.measured() ? " (measured)" : " (estimate)") +
           format(", final accuracy %.2f%%", 100 * s.final_accuracy()) +
           format(" (best %.2f%%)", 100 * s.best_accuracy()) +
           (s.energy_j() > 0 ? format(", %.4g accuracy per kJ", a.accuracy_per_kj()) : std::string()) + "\n";
  }
  out += format_knob_view(a);
  out += format_timeline(a);
  for (const std::string& note : a.notes()) out += "note: " + note + "\n";
  return out;
}

std::string report_json(const RunReport& report) { return to_json_pretty(report.accounting) + "\n"; }

PlotFigure report_figure(const RunReport& report) {
  const pb::RunReport& a = report.accounting;
  const pb::ReportTotal& t = a.total();
  const bool has_energy = t.energy_j() > 0 || t.sources_size() > 0;
  // the eval lines' energy comes from the same meters as the rank logs, or else from the summary's
  const bool measured =
      has_energy ? t.measured() && (!a.finished() || a.summary().measured()) : a.finished() && a.summary().measured();
  PlotFigure figure;
  figure.title = "joule-report: " + a.run_name() + (measured ? "" : " (estimate)");
  figure.subtitle =
      plural(t.ranks(), "rank") + format(", %.1f s", t.seconds()) +
      (has_energy ? format(", %.1f J", t.energy_j()) + " (" + source_label(t.sources(), t.measured()) + ")"
                  : std::string(", no energy in the rank logs")) +
      (a.finished() ? ", stopped by " + a.summary().stop_reason() : ", did not finish");

  PlotPanel power;
  power.title = "Average power per rank (per window)";
  power.x_label = "time since start (s)";
  power.y_label = "average power (W)";
  power.x_from_zero = power.y_from_zero = true;
  power.empty_text = has_energy ? "no windows in the rank logs" : "the rank logs carry no energy figures";
  double t0 = INFINITY;
  for (const auto& windows : report.windows)
    for (const pb::RankWindowRecord& w : windows) t0 = std::min(t0, w.t_start());
  for (int i = 0; i < a.ranks_size() && has_energy; ++i) {
    PlotSeries s;
    s.label =
        "rank " + std::to_string(a.ranks(i).rank()) + (a.ranks(i).host().empty() ? "" : " (" + a.ranks(i).host() + ")");
    for (const pb::RankWindowRecord& w : report.windows[static_cast<size_t>(i)]) {
      const double length = w.t_end() - w.t_start();
      s.x.push_back(w.t_end() - t0);
      s.y.push_back(w.avg_power_w() > 0 ? w.avg_power_w() : ratio(w.energy_j().total(), length));
    }
    power.series.push_back(std::move(s));
  }

  PlotPanel accuracy;
  accuracy.title = "Test accuracy against cumulative energy (all ranks)";
  double max_energy = 0;
  for (const pb::EvalRecord& e : report.evals) max_energy = std::max(max_energy, e.energy_j());
  const bool controlled = a.timeline_size() > 0;  // the stop rule's fit is in kJ
  const bool kilo = max_energy >= 1e4 || controlled;
  accuracy.x_label = kilo ? "cumulative energy (kJ)" : "cumulative energy (J)";
  accuracy.y_label = "test accuracy (%)";
  accuracy.x_from_zero = true;
  accuracy.empty_text = report.evals.empty() ? "no eval lines in metrics.jsonl" : "the eval lines carry no energy";
  if (max_energy > 0) {
    PlotSeries s;
    s.label = "test accuracy";
    for (const pb::EvalRecord& e : report.evals) {
      s.x.push_back(kilo ? e.energy_j() / 1000 : e.energy_j());
      s.y.push_back(100 * e.accuracy());
    }
    s.line = !controlled;  // with the fitted curve drawn, the evaluations are points
    accuracy.series.push_back(std::move(s));
    if (controlled) {
      accuracy.title = "Test accuracy against cumulative energy: stop-rule fit, stop and knob changes";
      add_controller_overlay(a, report.evals, accuracy);
    }
  }
  figure.panels = {std::move(power), std::move(accuracy)};
  return figure;
}

}  // namespace joule::energy
