// joule-report on fake run directories with known window records: exact per-rank and total
// aggregates, a crashed run (torn last line, no summary.json), bad lines in the middle, the JSON
// round trip, the table, the SVG figure, and the command line's exit codes.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <google/protobuf/util/json_util.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/json_record.h"
#include "energy/report.h"
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

}  // namespace
}  // namespace joule::energy
