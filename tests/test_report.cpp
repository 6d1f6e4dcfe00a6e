// joule-report on fake run directories with known window records: exact per-rank and total
// aggregates, a crashed run (torn last line, no summary.json), bad lines in the middle, the JSON
// round trip, the table, the SVG figure, and the command line's exit codes; the energy controller's
// decision timeline, its outcome line and the plot overlay (fitted curve, stop point, knob changes).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <google/protobuf/util/json_util.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "core/error.h"
#include "core/json_record.h"
#include "energy/report.h"
#include "energy/report_timeline.h"
#include "tests/support/command.h"
#include "tests/support/expect_error.h"
#include "tests/support/synthetic_data.h"

namespace joule::energy {
namespace {

namespace fs = std::filesystem;
using joule::testing::binary_path;
using joule::testing::run_command;
using joule::testing::shell_quote;

struct Phases {
  double data = 0, forward = 0, backward = 0, comm_wait = 0, optimizer = 0;
};

void set_phases(pb::PhaseBreakdown* p, const Phases& v) {
  p->set_data(v.data);
  p->set_forward(v.forward);
  p->set_backward(v.backward);
  p->set_comm_wait(v.comm_wait);
  p->set_optimizer(v.optimizer);
}

pb::RankWindowRecord window(uint32_t rank, const std::string& host, double t_start, double t_end, double samples,
                            const Phases& seconds, double gpu, double cpu, double dram, const Phases& phase_j,
                            const std::string& source, bool measured) {
  pb::RankWindowRecord w;
  w.set_rank(rank);
  w.set_host(host);
  w.set_t_start(t_start);
  w.set_t_end(t_end);
  w.set_samples(samples);
  set_phases(w.mutable_seconds(), seconds);
  w.mutable_energy_j()->set_gpu(gpu);
  w.mutable_energy_j()->set_cpu(cpu);
  w.mutable_energy_j()->set_dram(dram);
  w.mutable_energy_j()->set_total(gpu + cpu + dram);
  set_phases(w.mutable_phase_energy_j(), phase_j);
  w.set_avg_power_w((gpu + cpu + dram) / (t_end - t_start));
  w.add_sources(source);
  w.set_measured(measured);
  return w;
}

std::string lines_of(const std::vector<pb::RankWindowRecord>& records) {
  std::string text;
  for (const auto& r : records) text += to_json_line(r) + "\n";
  return text;
}

// Rank 0 (nodeA, nvml, measured): 5 s, 750 J, comm wait 0.5 s, 500 samples.
// Rank 1 (nodeB, estimate):       5 s, 500 J, comm wait 1.25 s, 500 samples.
class ReportRun : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = joule::testing::make_temp_dir("joule-report");
    dir_ = root_ + "/r1";
    fs::create_directories(dir_);
    rank0_ = {window(0, "nodeA", 1000, 1002, 200, {0.25, 0.75, 0.5, 0.25, 0.25}, 250, 40, 10,
                     {30, 120, 90, 30, 30}, "nvml", true),
              window(0, "nodeA", 1002, 1005, 300, {0, 1.5, 1.0, 0.25, 0.25}, 380, 60, 10, {0, 225, 150, 37.5, 37.5},
                     "nvml", true)};
    rank1_ = {window(1, "nodeB", 1000, 1002.5, 250, {0, 1.5, 0, 1.0, 0}, 0, 200, 0, {0, 120, 0, 80, 0}, "estimate",
                     false),
              window(1, "nodeB", 1002.5, 1005, 250, {0, 2.25, 0, 0.25, 0}, 0, 300, 0, {0, 270, 0, 30, 0},
                     "estimate", false)};
    write("rank-00000.jsonl", lines_of(rank0_));
    write("rank-00001.jsonl", lines_of(rank1_));
    pb::Summary s;
    s.set_world_size(2);
    s.set_steps(10);
    s.set_samples(1000);
    s.set_seconds(5.5);
    s.set_energy_j(1250);
    s.set_final_accuracy(0.85);
    s.set_best_accuracy(0.86);
    s.set_stop_reason("max_steps");
    s.set_measured(false);
    write("summary.json", to_json_pretty(s));
    pb::TrainRecord train;
    train.set_kind("train");
    train.set_step(1);
    train.set_loss(2.3);
    pb::EvalRecord eval1, eval2;
    eval1.set_kind("eval");
    eval1.set_step(5);
    eval1.set_energy_j(600);
    eval1.set_accuracy(0.7);
    eval2 = eval1;
    eval2.set_step(10);
    eval2.set_energy_j(1250);
    eval2.set_accuracy(0.85);
    write("metrics.jsonl", to_json_line(train) + "\n" + to_json_line(eval1) + "\n" + to_json_line(train) + "\n" +
                               to_json_line(eval2) + "\n");
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(root_);
  }
  void write(const std::string& name, const std::string& content) { std::ofstream(dir_ + "/" + name) << content; }

  std::string root_, dir_;
  std::vector<pb::RankWindowRecord> rank0_, rank1_;
};

TEST_F(ReportRun, AggregatesPerRankAndTotal) {
  const RunReport report = load_run_report(dir_);
  const pb::RunReport& a = report.accounting;
  EXPECT_EQ(a.run_name(), "r1");
  ASSERT_EQ(a.ranks_size(), 2);
  const pb::RankReport& r0 = a.ranks(0);
  EXPECT_EQ(r0.rank(), 0u);
  EXPECT_EQ(r0.host(), "nodeA");
  EXPECT_EQ(r0.windows(), 2u);
  EXPECT_DOUBLE_EQ(r0.seconds(), 5);
  EXPECT_DOUBLE_EQ(r0.energy_j(), 750);
  EXPECT_DOUBLE_EQ(r0.avg_power_w(), 150);
  EXPECT_DOUBLE_EQ(r0.comm_wait_share(), 0.1);
  EXPECT_DOUBLE_EQ(r0.samples(), 500);
  EXPECT_DOUBLE_EQ(r0.j_per_sample(), 1.5);
  EXPECT_TRUE(r0.measured());
  EXPECT_EQ(std::vector<std::string>(r0.sources().begin(), r0.sources().end()), std::vector<std::string>{"nvml"});
  EXPECT_DOUBLE_EQ(r0.phase_energy_j().forward(), 345);
  EXPECT_DOUBLE_EQ(r0.domain_energy_j().gpu(), 630);
  EXPECT_DOUBLE_EQ(r0.domain_energy_j().total(), 750);
  const pb::RankReport& r1 = a.ranks(1);
  EXPECT_EQ(r1.host(), "nodeB");
  EXPECT_DOUBLE_EQ(r1.energy_j(), 500);
  EXPECT_DOUBLE_EQ(r1.avg_power_w(), 100);
  EXPECT_DOUBLE_EQ(r1.comm_wait_share(), 0.25);
  EXPECT_DOUBLE_EQ(r1.j_per_sample(), 1);
  EXPECT_FALSE(r1.measured());

  const pb::ReportTotal& t = a.total();
  EXPECT_EQ(t.ranks(), 2u);
  EXPECT_EQ(t.windows(), 4u);
  EXPECT_DOUBLE_EQ(t.energy_j(), 1250);
  EXPECT_DOUBLE_EQ(t.seconds(), 5) << "the longest rank, not the sum";
  EXPECT_DOUBLE_EQ(t.avg_power_w(), 250);
  EXPECT_DOUBLE_EQ(t.samples(), 1000);
  EXPECT_DOUBLE_EQ(t.j_per_sample(), 1.25);
  EXPECT_DOUBLE_EQ(t.comm_wait_share(), 1.75 / 10);
  EXPECT_DOUBLE_EQ(t.phase_energy_j().comm_wait(), 177.5);
  EXPECT_DOUBLE_EQ(t.phase_energy_j().forward(), 735);
  EXPECT_FALSE(t.measured()) << "one rank is an estimate";
  EXPECT_EQ(t.sources_size(), 2);

  EXPECT_TRUE(a.finished());
  EXPECT_EQ(a.summary().stop_reason(), "max_steps");
  EXPECT_DOUBLE_EQ(a.accuracy_per_kj(), 0.85 / 1.25);
  EXPECT_EQ(a.skipped_lines(), 0u);
  ASSERT_EQ(report.evals.size(), 2u) << "train lines are not evals";
  EXPECT_DOUBLE_EQ(report.evals[1].energy_j(), 1250);
  EXPECT_EQ(a.notes_size(), 0) << a.notes(0);
}

TEST_F(ReportRun, CrashedRunSkipsTornLastLineAndHasNoSummary) {
  fs::remove(dir_ + "/summary.json");
  std::ofstream(dir_ + "/rank-00001.jsonl", std::ios::app) << R"({"rank":1,"host":"nodeB","t_sta)";
  std::ofstream(dir_ + "/metrics.jsonl", std::ios::app) << R"({"kind":"eval","step":15})";  // complete JSON, no newline
  const RunReport report = load_run_report(dir_);
  const pb::RunReport& a = report.accounting;
  EXPECT_FALSE(a.finished());
  EXPECT_FALSE(a.has_summary());
  EXPECT_EQ(a.ranks(1).skipped_lines(), 1u);
  EXPECT_EQ(a.ranks(1).windows(), 2u);
  EXPECT_EQ(a.skipped_lines(), 2u) << "the unterminated metrics line counts too";
  EXPECT_EQ(report.evals.size(), 2u);
  EXPECT_DOUBLE_EQ(a.total().energy_j(), 1250) << "complete windows are all still counted";
  const std::string table = format_report_table(report);
  EXPECT_NE(table.find("no summary.json (run did not finish)"), std::string::npos) << table;
  EXPECT_NE(table.find("2 incomplete last lines skipped, cut short by a crash (rank-00001.jsonl, metrics.jsonl)"),
            std::string::npos) << table;
  EXPECT_EQ(table.find("corrupt"), std::string::npos) << "a torn last line is not corruption: " << table;
}

TEST_F(ReportRun, BadLineInTheMiddleIsSkippedNotFatal) {
  write("rank-00000.jsonl", to_json_line(rank0_[0]) + "\nnot json at all\n\n" + to_json_line(rank0_[1]) + "\n");
  const RunReport report = load_run_report(dir_);
  EXPECT_EQ(report.accounting.ranks(0).windows(), 2u);
  EXPECT_EQ(report.accounting.ranks(0).skipped_lines(), 1u) << "blank lines are not counted";
  EXPECT_DOUBLE_EQ(report.accounting.ranks(0).energy_j(), 750);
  EXPECT_EQ(report.accounting.corrupt_lines(), 1u);
  const std::string table = format_report_table(report);
  EXPECT_NE(table.find("1 corrupt line skipped: complete lines that are not valid records (rank-00000.jsonl: 1)"),
            std::string::npos) << table;
  EXPECT_EQ(table.find("incomplete"), std::string::npos) << "a bad line in the middle is not a torn one: " << table;
}

// One unreadable file does not hide the rest of the run: the report names it and goes on.
TEST_F(ReportRun, UnreadableSummaryOrRankLogIsNamedAndTheRestReported) {
  write("summary.json", "{\"steps\": ");
  // a rank log past the read limit (sparse: no disk used) cannot be read
  fs::resize_file(dir_ + "/rank-00001.jsonl", (uint64_t{64} << 20) + 1);
  const RunReport report = load_run_report(dir_);
  const pb::RunReport& a = report.accounting;
  EXPECT_FALSE(a.finished());
  ASSERT_EQ(a.ranks_size(), 2);
  EXPECT_EQ(a.ranks(0).windows(), 2u);
  EXPECT_DOUBLE_EQ(a.ranks(0).energy_j(), 750) << "rank 0 still reports";
  EXPECT_EQ(a.ranks(1).windows(), 0u);
  const std::string table = format_report_table(report);
  EXPECT_NE(table.find("unreadable, left out: summary"), std::string::npos) << table;
  EXPECT_NE(table.find("not a valid summary.json"), std::string::npos) << table;
  EXPECT_NE(table.find("unreadable, left out: rank log"), std::string::npos) << table;
  EXPECT_NE(table.find("rank-00001.jsonl"), std::string::npos) << table;
}

TEST_F(ReportRun, MissingOrEmptyRunDirectoryIsInvalidInput) {
  joule::testing::expect_invalid_input([&] { load_run_report(root_ + "/nope"); }, {root_ + "/nope", "does not exist"});
  joule::testing::expect_invalid_input([&] { load_run_report(dir_ + "/summary.json"); }, "is not a directory");
  fs::create_directories(root_ + "/empty");
  joule::testing::expect_invalid_input([&] { load_run_report(root_ + "/empty"); },
                                       {root_ + "/empty", "no rank-*.jsonl"});
}

TEST_F(ReportRun, JsonParsesBackWithSnakeCaseNames) {
  const RunReport report = load_run_report(dir_);
  const std::string json = report_json(report);
  EXPECT_NE(json.find("\"comm_wait_share\""), std::string::npos);
  EXPECT_NE(json.find("\"j_per_sample\""), std::string::npos);
  pb::RunReport back;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &back).ok()) << json;
  EXPECT_EQ(back.ranks_size(), 2);
  EXPECT_DOUBLE_EQ(back.total().energy_j(), 1250);
  EXPECT_DOUBLE_EQ(back.ranks(1).comm_wait_share(), 0.25);
  EXPECT_EQ(back.summary().stop_reason(), "max_steps");
}

TEST_F(ReportRun, TableNamesEveryRankAndEstimates) {
  const std::string table = format_report_table(load_run_report(dir_));
  for (const char* needle : {"nodeA", "nodeB", "total", "750.0", "1250.0", "150.0", "10.0%", "25.0%", "1.25",
                             "estimate", "max_steps", "energy by phase", "forward 735.0 J (58.8%)", "0.68 accuracy"})
    EXPECT_NE(table.find(needle), std::string::npos) << needle << "\n" << table;
  // a source that is not measured but not named "estimate" says so
  pb::RankWindowRecord w = rank0_[0];
  w.set_measured(false);
  write("rank-00000.jsonl", lines_of({w}));
  const std::string flagged = format_report_table(load_run_report(dir_));
  EXPECT_NE(flagged.find("nvml (estimate)"), std::string::npos) << flagged;
}

TEST_F(ReportRun, SvgHasOnePolylinePerRankAndEscapesText) {
  const std::string escaped_dir = root_ + "/run<&>";
  fs::rename(dir_, escaped_dir);
  dir_ = escaped_dir;
  const std::string svg = report_svg(load_run_report(dir_));
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_EQ(svg.substr(svg.size() - 7), "</svg>\n");
  size_t polylines = 0;
  for (size_t at = svg.find("<polyline"); at != std::string::npos; at = svg.find("<polyline", at + 1)) ++polylines;
  EXPECT_EQ(polylines, 3u) << "two ranks' power and one accuracy curve";
  for (const char* needle : {"rank 0 (nodeA)", "rank 1 (nodeB)", "run&lt;&amp;&gt;", "(estimate)", "test accuracy (%)"})
    EXPECT_NE(svg.find(needle), std::string::npos) << needle;
  EXPECT_EQ(svg.find("run<&>"), std::string::npos);
  auto count = [&](const std::string& s) {
    size_t n = 0;
    for (size_t at = svg.find(s); at != std::string::npos; at = svg.find(s, at + 1)) ++n;
    return n;
  };
  EXPECT_EQ(count("<text"), count("</text>"));
  EXPECT_EQ(count("<g"), count("</g>"));
}

TEST(ReportSvg, NiceTicksEncloseTheRangeInEqualSteps) {
  const std::vector<double> ticks = nice_ticks(3, 247);
  ASSERT_GE(ticks.size(), 3u);
  EXPECT_LE(ticks.front(), 3);
  EXPECT_GE(ticks.back(), 247);
  EXPECT_DOUBLE_EQ(ticks[1] - ticks[0], 50);
  const std::vector<double> flat = nice_ticks(0, 0);  // an empty range still gets an axis
  EXPECT_DOUBLE_EQ(flat.front(), 0);
  EXPECT_DOUBLE_EQ(flat.back(), 1);
  EXPECT_EQ(xml_escape("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
}

TEST_F(ReportRun, CommandLineExitCodes) {
  const std::string report = binary_path("joule-report");
  joule::testing::CommandResult r = run_command(report + " " + shell_quote(dir_));
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("nodeB"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("total"), std::string::npos) << r.output;

  r = run_command(report + " --json " + shell_quote(dir_));
  EXPECT_EQ(r.status, 0) << r.output;
  pb::RunReport back;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(r.output, &back).ok()) << r.output;

  const std::string svg = root_ + "/plot.svg";
  r = run_command(report + " " + shell_quote(dir_) + " --plot " + shell_quote(svg));
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(joule::testing::read_file(svg).rfind("<svg", 0), 0u);

  r = run_command(report + " " + shell_quote(dir_) + " --plot " + shell_quote(root_ + "/x.png"));
  if (run_command("command -v rsvg-convert").status == 0) {  // scripts/setup.sh installs it
    EXPECT_EQ(r.status, 0) << r.output;
    EXPECT_EQ(joule::testing::read_file(root_ + "/x.png").substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  } else {
    EXPECT_EQ(r.status, 2) << r.output;
    EXPECT_NE(r.output.find("rsvg-convert"), std::string::npos) << r.output;
    EXPECT_FALSE(fs::exists(root_ + "/x.png"));
  }
  r = run_command(report + " " + shell_quote(dir_) + " --plot " + shell_quote(root_ + "/x.pdf"));
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find(".svg or .png"), std::string::npos) << r.output;

  r = run_command(report + " " + shell_quote(root_ + "/missing"));
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find(root_ + "/missing"), std::string::npos) << r.output;

  EXPECT_EQ(run_command(report).status, 2);
  EXPECT_EQ(run_command(report + " --bogus " + shell_quote(dir_)).status, 2);
  r = run_command(report + " " + shell_quote(dir_) + " --plot");
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("--plot"), std::string::npos) << "the flag is named: " << r.output;
  r = run_command(report + " " + shell_quote(dir_) + " " + shell_quote(dir_));
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_NE(r.output.find("one RUN_DIR only"), std::string::npos) << r.output;
  r = run_command(report + " --help");
  EXPECT_EQ(r.status, 0) << r.output;
  for (const char* flag : {"RUN_DIR", "--plot FILE", "--json"})
    EXPECT_NE(r.output.find(flag), std::string::npos) << flag << " missing from: " << r.output;

  // a plot that cannot be written (its name is a directory), or a renderer that fails: status 1,
  // and no temporary file left beside it
  fs::create_directories(root_ + "/taken.svg");
  fs::create_directories(root_ + "/taken.png");
  for (const char* name : {"/taken.svg", "/taken.png"}) {
    r = run_command(report + " " + shell_quote(dir_) + " --plot " + shell_quote(root_ + name));
    EXPECT_EQ(r.status, 1) << name << ": " << r.output;
  }
  const std::string fake_bin = root_ + "/fake-bin";
  fs::create_directories(fake_bin);
  std::ofstream(fake_bin + "/rsvg-convert") << "#!/bin/sh\necho 'half a png' > \"$2\"\nexit 1\n";
  fs::permissions(fake_bin + "/rsvg-convert", fs::perms::owner_all);
  r = run_command("PATH=" + shell_quote(fake_bin) + ":$PATH " + report + " " + shell_quote(dir_) + " --plot " +
                  shell_quote(root_ + "/failed.png"));
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("rsvg-convert failed"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(root_ + "/failed.png"));
  for (const fs::directory_entry& e : fs::directory_iterator(root_))
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << "left behind: " << e.path();

  fs::remove(dir_ + "/summary.json");
  r = run_command(report + " " + shell_quote(dir_));
  EXPECT_EQ(r.status, 0) << "a crashed run is reported: " << r.output;
  EXPECT_NE(r.output.find("did not finish"), std::string::npos) << r.output;
}

// ---- the energy controller: decision timeline, outcome and plot overlay ----

// The stop rule's curve, written out here independently of the code under test (energy/stop_rule.h):
// y = alpha + beta·(1 − (E/e_ref)^(−c))/c, ln(E/e_ref) at c = 0; percent and kJ.
double curve_pct(double alpha, double beta, double c, double e_ref, double e_kj) {
  const double x = e_kj / e_ref;
  return alpha + beta * (c == 0 ? std::log(x) : (1 - std::pow(x, -c)) / c);
}

pb::RankWindowRecord knob_window(uint32_t step_first, uint32_t step_last, uint32_t batch, const std::string& precision,
                                 uint32_t clock, const std::string& decision) {
  pb::RankWindowRecord w;
  w.set_host("nodeA");
  w.set_t_start(100 + step_first);
  w.set_t_end(101 + step_last);
  w.set_step_first(step_first);
  w.set_step_last(step_last);
  w.set_samples(batch * (step_last - step_first + 1.0));
  w.mutable_energy_j()->set_total(100.0 * (step_last - step_first + 1));
  w.add_sources("estimate");
  w.set_batch_size(batch);
  w.set_precision(precision);
  w.set_sm_clock_mhz(clock);
  w.set_decision(decision);
  return w;
}

pb::DecisionRecord decision(uint32_t step, double energy_j, const std::string& what, const std::string& reason,
                            const std::string& detail) {
  pb::DecisionRecord d;
  d.set_kind("decision");
  d.set_step(step);
  d.set_samples(100.0 * step);
  d.set_energy_j(energy_j);
  d.set_what(what);
  d.set_reason(reason);
  d.set_detail(detail);
  return d;
}

// One rank, 12 steps: 128/f32, a profile of 256/f32 after step 1, a batch change after step 3 (to
// 512), bf16 after step 6, a clock of
// 1410 MHz after step 8, and the marginal-gain stop (with a cooldown) after step 10, whose detail
// carries the fit alpha 80, beta 5, c 0.5, e_ref 0.8 kJ. Evaluations every 2 steps; the summary
// predicts 90% at 5 kJ for the full budget.
class ReportController : public ReportRun {
 protected:
  static constexpr double kAlpha = 80, kBeta = 5, kC = 0.5, kRef = 0.8;
  void SetUp() override {
    ReportRun::SetUp();
    fs::remove(dir_ + "/rank-00001.jsonl");
    write("rank-00000.jsonl",
          lines_of({knob_window(1, 1, 128, "f32", 0, "controller: profile 256/f32"),
                    knob_window(2, 3, 256, "f32", 0, "controller: switch to 512/f32"),
                    knob_window(4, 6, 512, "f32", 0, "controller: switch to 512/bf16"),
                    knob_window(7, 8, 512, "bf16", 0, "controller: clocks"),
                    knob_window(9, 12, 512, "bf16", 1410, "energy.schedule: a manual note")}));
    std::string metrics;
    for (uint32_t step = 2; step <= 12; step += 2) {
      pb::TrainRecord train;
      train.set_kind("train");
      train.set_step(step - 1);
      train.set_batch_size(step <= 4 ? 128 : 512);
      pb::EvalRecord eval;
      eval.set_kind("eval");
      eval.set_step(step);
      eval.set_energy_j(100.0 * step + 50);  // 0.25 .. 1.25 kJ (the decisions' energy lags: closed windows only)
      eval.set_accuracy(0.70 + 0.015 * step);
      metrics += to_json_line(train) + "\n" + to_json_line(eval) + "\n";
      if (step == 2) metrics += to_json_line(decision(3, 300, "batch_size", "switch to 512/f32: 2.1 vs 2.6 mJ", "{}")) + "\n";
      if (step == 6) {
        metrics += to_json_line(decision(6, 650, "precision", "switch to 512/bf16: " + std::string(300, 'x'),
                                         R"({"ok":true,"alpha":50,"beta":1,"c":1,"e_ref_kj":1})")) + "\n";
        metrics += to_json_line(decision(8, 850, "clock", "rank 0 to 1410 MHz", "not json")) + "\n";
      }
      if (step == 10) {
        char fit[256];
        std::snprintf(fit, sizeof fit,
                      R"({"ok":true,"a":90,"b":4,"c":%g,"alpha":%g,"beta":%g,"e_ref_kj":%g,"sd":0.2,"points":4,)"
                      R"("gain_per_kj":0.5,"gain_upper_per_kj":0.8,"below":3})",
                      kC, kAlpha, kBeta, kRef);
        metrics += to_json_line(decision(10, 1000, "cooldown", "marginal gain 0.8 points/kJ < 1; cooldown of 2 steps", fit)) +
                   "\n";
      }
    }
    // a decision logged late (out of step order) is still placed by its step
    metrics += to_json_line(decision(1, 100, "batch_size", "profile 256/f32", R"({"ok":false})")) + "\n";
    write("metrics.jsonl", metrics);
    pb::Summary s;
    s.set_world_size(1);
    s.set_steps(12);
    s.set_energy_j(1250);
    s.set_final_accuracy(0.88);
    s.set_best_accuracy(0.89);
    s.set_stop_reason("marginal_gain");
    s.set_full_budget_energy_j(5000);
    s.set_predicted_full_accuracy(0.9);
    s.set_controller_decisions(5);
    write("summary.json", to_json_pretty(s));
  }
};

TEST_F(ReportController, TimelineListsTheDecisionsInStepOrderWithTheSettingAfter) {
  const RunReport report = load_run_report(dir_);
  const pb::RunReport& a = report.accounting;
  ASSERT_EQ(a.timeline_size(), 5);
  const std::vector<uint32_t> steps = {1, 3, 6, 8, 10};
  const std::vector<std::string> whats = {"batch_size", "batch_size", "precision", "clock", "cooldown"};
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(a.timeline(i).step(), steps[i]) << i;
    EXPECT_EQ(a.timeline(i).what(), whats[i]) << i;
  }
  EXPECT_EQ(knob_label(a.timeline(0)), "256/f32") << "the window after step 1";
  EXPECT_EQ(knob_label(a.timeline(1)), "512/f32") << "the window after step 3";
  EXPECT_EQ(knob_label(a.timeline(2)), "512/bf16");
  EXPECT_EQ(knob_label(a.timeline(3)), "1410 MHz");
  EXPECT_EQ(report.evals.size(), 6u) << "decision and train lines are not evals";
  EXPECT_EQ(a.skipped_lines(), 0u);

  const std::string table = format_report_table(report);
  const size_t section = table.find("decision timeline (energy controller, 5 decisions in metrics.jsonl)");
  ASSERT_NE(section, std::string::npos) << table;
  size_t at = section;
  for (const char* row : {"       1      0.100  batch_size        profile 256/f32",
                          "       3      0.300  batch_size        switch to 512/f32: 2.1 vs 2.6 mJ",
                          "       6      0.650  precision         switch to 512/bf16: xxx",
                          "       8      0.850  clock             rank 0 to 1410 MHz",
                          "      10      1.000  cooldown          marginal gain 0.8 points/kJ < 1"}) {
    const size_t next = table.find(row, at);
    EXPECT_NE(next, std::string::npos) << "missing or out of order: " << row << "\n" << table;
    if (next != std::string::npos) at = next;
  }
  // the 300-character reason is cut, and says so
  std::istringstream lines(table);
  for (std::string line; std::getline(lines, line);)
    if (line.find("precision         switch") != std::string::npos) {
      EXPECT_LE(line.size(), 2u + 8 + 1 + 10 + 2 + 16 + 2 + 110) << line;
      EXPECT_EQ(line.substr(line.size() - 3), "...") << line;
    }
  EXPECT_NE(table.find("controller: stopped by marginal_gain at 1.250 kJ of a predicted 5.000 kJ for the full budget "
                       "(75.0% saved); final accuracy 88.00% vs 90.00% predicted"),
            std::string::npos) << table;
  // the rank logs' copies of the controller's decisions are not listed twice; other decisions are
  EXPECT_EQ(table.find("decision after step 3: controller:"), std::string::npos) << table;
  EXPECT_NE(table.find("decision after step 12: energy.schedule: a manual note"), std::string::npos) << table;

  pb::RunReport back;  // --json carries the timeline and the outcome
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(report_json(report), &back).ok());
  ASSERT_EQ(back.timeline_size(), 5);
  EXPECT_EQ(back.timeline(4).what(), "cooldown");
  EXPECT_EQ(back.timeline(2).precision(), "bf16");
  EXPECT_DOUBLE_EQ(back.controller().saved_share(), 0.75);
  EXPECT_DOUBLE_EQ(back.controller().predicted_full_accuracy(), 0.9);
}

TEST_F(ReportController, PlotDrawsTheFittedCurveTheStopAndTheKnobChanges) {
  const RunReport report = load_run_report(dir_);
  const FittedCurve curve = last_fitted_curve(report.accounting);
  ASSERT_TRUE(curve.ok);
  EXPECT_EQ(curve.step, 10u) << "the last fit, not the earlier one; a detail that is not JSON is skipped";
  EXPECT_DOUBLE_EQ(curve.alpha, kAlpha);
  EXPECT_DOUBLE_EQ(fitted_accuracy_pct(curve, 2.0), curve_pct(kAlpha, kBeta, kC, kRef, 2.0));
  FittedCurve log_curve = curve;
  log_curve.c = 0;
  EXPECT_NEAR(fitted_accuracy_pct(log_curve, kRef * std::exp(1.0)), kAlpha + kBeta, 1e-12) << "c = 0 is ln x";

  const PlotFigure figure = report_figure(report);
  ASSERT_EQ(figure.panels.size(), 2u);
  const PlotPanel& panel = figure.panels[1];
  EXPECT_EQ(panel.x_label, "cumulative energy (kJ)");
  const PlotSeries* fit = nullptr;
  const PlotSeries* extrapolated = nullptr;
  for (const PlotSeries& s : panel.series) {
    if (s.css_class == "fit") fit = &s;
    if (s.css_class == "fit-extrapolated") extrapolated = &s;
  }
  ASSERT_NE(fit, nullptr);
  ASSERT_NE(extrapolated, nullptr) << "the full budget lies past the last evaluation";
  EXPECT_FALSE(panel.series[0].line) << "the evaluations are points";
  ASSERT_GE(fit->x.size(), 10u);
  EXPECT_DOUBLE_EQ(fit->x.front(), 0.25) << "from the lowest evaluation's energy";
  EXPECT_DOUBLE_EQ(fit->x.back(), 1.25) << "solid up to the last evaluation";
  EXPECT_DOUBLE_EQ(extrapolated->x.front(), 1.25);
  EXPECT_DOUBLE_EQ(extrapolated->x.back(), 5.0) << "dashed up to the full budget";
  for (const PlotSeries* s : {fit, extrapolated})
    for (size_t k = 0; k < s->x.size(); ++k)
      EXPECT_NEAR(s->y[k], curve_pct(kAlpha, kBeta, kC, kRef, s->x[k]), 1e-9) << "at " << s->x[k] << " kJ";

  std::vector<std::string> knob_labels;
  const PlotMarker* stop = nullptr;
  const PlotMarker* full = nullptr;
  for (const PlotMarker& m : panel.markers) {
    if (m.css_class == "knob-change") knob_labels.push_back(m.label);
    if (m.css_class == "stop") stop = &m;
    if (m.css_class == "full-budget") full = &m;
  }
  EXPECT_EQ(knob_labels, (std::vector<std::string>{"256/f32", "512/f32", "512/bf16", "1410 MHz"}));
  ASSERT_NE(stop, nullptr);
  EXPECT_EQ(stop->kind, PlotMarker::Kind::point);
  EXPECT_DOUBLE_EQ(stop->x, 1.05) << "at the evaluation that fired it (the decision says 1.0 kJ)";
  EXPECT_DOUBLE_EQ(stop->y, 100 * (0.70 + 0.015 * 10));
  ASSERT_NE(full, nullptr);
  EXPECT_DOUBLE_EQ(full->x, 5.0);
  EXPECT_DOUBLE_EQ(full->y, 90.0);

  // the SVG: the curve's polyline is an affine image of its points (x and y each), the markers are drawn
  const std::string svg = render_svg(figure);
  std::smatch match;
  ASSERT_TRUE(std::regex_search(svg, match, std::regex("<polyline class=\"fit\"[^>]* points=\"([^\"]*)\"")));
  std::vector<double> px, py;
  std::istringstream points(match[1].str());
  for (std::string xy; points >> xy;) {
    const size_t comma = xy.find(',');
    px.push_back(std::stod(xy.substr(0, comma)));
    py.push_back(std::stod(xy.substr(comma + 1)));
  }
  ASSERT_EQ(px.size(), fit->x.size());
  const double sx = (px.back() - px.front()) / (fit->x.back() - fit->x.front());
  const double sy = (py.back() - py.front()) / (fit->y.back() - fit->y.front());
  EXPECT_GT(sx, 0);
  EXPECT_LT(sy, 0) << "SVG y grows downward";
  for (size_t k = 0; k < px.size(); ++k) {
    EXPECT_NEAR(px[k], px.front() + sx * (fit->x[k] - fit->x.front()), 0.02) << k;  // %.2f pixels
    EXPECT_NEAR(py[k], py.front() + sy * (fit->y[k] - fit->y.front()), 0.02) << k;
  }
  EXPECT_NE(svg.find("<polyline class=\"fit-extrapolated\""), std::string::npos);
  size_t knob_groups = 0;
  for (size_t at = svg.find("<g class=\"knob-change\">"); at != std::string::npos;
       at = svg.find("<g class=\"knob-change\">", at + 1))
    ++knob_groups;
  EXPECT_EQ(knob_groups, 4u);
  for (const char* needle : {">512/bf16</text>", ">1410 MHz</text>", "<g class=\"stop\">", ">stop (then cooldown)</text>",
                             "<g class=\"full-budget\">", "fitted curve (stop rule)"})
    EXPECT_NE(svg.find(needle), std::string::npos) << needle;

  // and from the command line
  const std::string file = root_ + "/controller.svg";
  const joule::testing::CommandResult r =
      run_command(binary_path("joule-report") + " " + shell_quote(dir_) + " --plot " + shell_quote(file));
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("decision timeline"), std::string::npos) << r.output;
  EXPECT_NE(joule::testing::read_file(file).find("<polyline class=\"fit\""), std::string::npos);
}

TEST_F(ReportRun, RunWithoutDecisionsHasNoTimelineAndAnUnchangedPlot) {
  const RunReport report = load_run_report(dir_);
  EXPECT_EQ(report.accounting.timeline_size(), 0);
  EXPECT_FALSE(report.accounting.has_controller());
  const std::string table = format_report_table(report);
  EXPECT_EQ(table.find("decision timeline"), std::string::npos) << table;
  EXPECT_EQ(table.find("controller:"), std::string::npos) << table;
  EXPECT_FALSE(last_fitted_curve(report.accounting).ok);
  const PlotPanel panel = report_figure(report).panels.at(1);
  EXPECT_EQ(panel.x_label, "cumulative energy (J)") << "joules below 10 kJ, as before";
  ASSERT_EQ(panel.series.size(), 1u);
  EXPECT_TRUE(panel.series[0].line);
  EXPECT_TRUE(panel.markers.empty());
  // a marginal-gain summary without decision lines (an older trainer) still gets its outcome line only
  pb::Summary s = report.accounting.summary();
  s.set_stop_reason("marginal_gain");
  s.set_full_budget_energy_j(2500);
  write("summary.json", to_json_pretty(s));
  const std::string with_outcome = format_report_table(load_run_report(dir_));
  EXPECT_NE(with_outcome.find("(50.0% saved)"), std::string::npos) << with_outcome;
}

}  // namespace
}  // namespace joule::energy
