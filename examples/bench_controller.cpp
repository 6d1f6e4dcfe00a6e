// joule-bench controller [--ranks R] [--windows N] [--window-s S] [--step-ms X]   (mpirun -np R for the all-reduce)
// Times what the energy controller adds per window at R ranks, part by part, as
// EnergyControl::window_closed and ::evaluated do it (distributed/energy_control.cpp):
//   knob-policy   KnobPolicy::observe, candidates batch 64..2048 (doubling) × {f32, bf16}, start 128/f32;
//   clock-policy  ClockPolicy::observe with R ranks, clocks 345..1980 MHz in 15-MHz steps (110), called
//                 as the driver calls it: not in a window with a knob change or right after one;
//   stop-rule     StopRule::observe + describe_json every 10th window (an evaluation); the driver stops
//                 calling it once it fires, the bench keeps calling it (a fit over the evaluations so
//                 far: the cost of a run that never stops, which grows with the run);
//   all-reduce    the one all_reduce_sum of R×8 doubles per window (zeroed table, own slot, sum), on
//                 the real communicator when run under mpirun with R ranks, "-" otherwise.
// Options are the config's defaults (core/proto/config.proto energy.controller), as EnergyControl
// fills them. The trace is synthetic but shaped like a run: per setting, time per sample falls
// with the batch and is 25% lower in bf16, energy = power × time (±1% noise, seeded), the first
// second after a change runs slower and costlier; B_noise grows from 200 to ~3200 samples; the
// loss falls; test accuracy saturates in job energy (a − b·E^(−1/2), 0.2-point noise); rank r
// computes 1 − 0.15·r/(R−1) as much per step as rank 0 at the same clock (so it waits), with
// t ∝ 0.25 + 0.75·1980/f. Each part's time per window is measured around its calls (steady clock),
// the mean and p99 over the N windows (a part not called in a window costs 0 there), and the mean
// and p99 of the thread's CPU time (cpu_*: on a loaded machine, wall time also counts the slices other
// processes took); under mpirun every rank runs the policies at once (as in training), then the
// all-reduce loop, and the slowest rank's numbers are shown.
// Verified: N windows ran, the knob policy switched, the clock policy lowered a clock, the stop
// rule fitted and fired, the all-reduce summed exactly; exit status 1 otherwise.
// With --step-ms X: "%window" = mean cost / window length (= the cost per step, spread over the
// window's window_s·1000/X steps, as a share of a step); "%step" = mean cost / X (the share if a
// decision were made every step, or the whole cost landed on the one step that closes the window).
#include "examples/bench_controller.h"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/exit_status.h"
#include "distributed/make_communicator.h"
#include "energy/clock_policy.h"
#include "energy/knob_policy.h"
#include "energy/stop_rule.h"
#include "examples/cli.h"

namespace joule::bench {
namespace {

constexpr int kFields = 8;  // doubles per rank all-reduced per window (energy_control.cpp's Field)
constexpr int kEvalEvery = 10;

struct Args {
  int ranks = 0;  // 0: the job's size under mpirun, else 2
  int windows = 20000;
  double window_s = 1;
  double step_ms = 0;  // 0: no share columns
};

struct Part {  // one row: seconds per window, one entry per window
  explicit Part(std::string part) : name(std::move(part)) {}
  std::string name;
  std::vector<double> seconds;      // wall (steady clock)
  std::vector<double> cpu_seconds;  // this thread's CPU time (without the time other processes took)
  int64_t calls = 0;
};

double mean_of(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0 : s / static_cast<double>(v.size());
}

double p99_of(std::vector<double> v) {
  if (v.empty()) return 0;
  const size_t k = std::min(v.size() - 1, static_cast<size_t>(std::ceil(0.99 * static_cast<double>(v.size()))) - 1);
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

// Runs f as window i of *part: its wall and CPU seconds there.
template <class F>
void timed(Part* part, size_t i, F&& f) {
  const double cpu0 = thread_cpu_seconds();
  const auto start = std::chrono::steady_clock::now();
  f();
  part->seconds[i] = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  part->cpu_seconds[i] = thread_cpu_seconds() - cpu0;
  ++part->calls;
}

struct Verdict {  // what the policies decided over the trace
  int64_t windows = 0, knob_switches = 0, clock_changes = 0, evaluations = 0;
  int64_t stop_fired_at = -1;  // window index, -1 = never
  bool fit_ok = false;
  energy::Setting final_setting;
  std::vector<uint32_t> final_clocks;
};

// Runs the synthetic trace through the three policies; fills the three policy parts.
Verdict run_policies(const Args& a, int ranks, Part* knob, Part* clock, Part* stop) {
  energy::KnobPolicyOptions ko;  // as EnergyControl fills them from the config defaults
  ko.batches = {64, 128, 256, 512, 1024, 2048};
  ko.precisions = {"f32", "bf16"};
  ko.reference_batch = 128;
  ko.measure_s = 3;
  ko.loss_tolerance = 0.05;
  energy::KnobPolicy knobs(ko, {128, "f32"});
  energy::ClockPolicyOptions co;
  co.min_mhz = 345;
  co.max_mhz = 1980;
  for (uint32_t f = 345; f <= 1980; f += 15) co.supported_mhz.push_back(f);
  energy::ClockPolicy clocks(co, ranks);
  energy::StopRuleOptions so;
  so.min_gain_per_kj = 0.05;
  so.min_residual_sd = 30.0 / std::sqrt(10000.0);  // a 10,000-sample test set
  energy::StopRule rule(so);

  std::mt19937_64 rng(12345);
  std::normal_distribution<double> noise(0.0, 1.0);
  Verdict v;
  energy::Setting setting{128, "f32"};
  double t = 0, job_j = 0, since_change = 0;
  bool knob_changed_before = false, clock_changed_before = false;
  const auto n = static_cast<size_t>(a.windows);
  for (Part* p : {knob, clock, stop}) p->seconds.assign(n, 0.0), p->cpu_seconds.assign(n, 0.0);
  for (size_t i = 0; i < n; ++i) {
    const double bf16 = setting.precision == "bf16" ? 0.75 : 1.0;
    const double s_per_sample = (1.0 / 20000 + 0.004 / static_cast<double>(setting.batch)) * bf16;
    const double power_w = ranks * (setting.precision == "bf16" ? 52.0 : 60.0);
    const double transient = since_change < ko.transient_s ? 1.0 : 0.0;  // the whole 1-s window
    energy::WindowObservation w;
    w.setting = setting;
    w.seconds = a.window_s;
    w.samples = a.window_s / s_per_sample * (1 - 0.3 * transient) * (1 + 0.01 * noise(rng));
    w.energy_j = power_w * a.window_s * (1 + 0.3 * transient) * (1 + 0.01 * noise(rng));
    w.since_change_s = since_change;
    w.noise_scale = 200 + 3000 * (1 - std::exp(-t / 2000));
    w.mean_loss = 2.0 / (1 + t / 100) * (setting.precision == "bf16" ? 1.01 : 1.0) * (1 + 0.01 * noise(rng));
    t += a.window_s;
    job_j += w.energy_j;
    w.job_energy_j = job_j;
    w.train_seconds = t;

    energy::KnobDecision kd;
    timed(knob, i, [&] { kd = knobs.observe(w); });
    if (kd.change) {
      ++v.knob_switches;
      setting = kd.next;
      since_change = 0;
    } else {
      since_change += a.window_s;
    }
    // the driver: no clock decision in a window that began with a change (knobs or clocks: a
    // transient), nor in one whose knob decision changed something; curves relearnt after a knob change
    const bool window_transient = knob_changed_before || clock_changed_before;
    if (knob_changed_before) clocks.reset_models();
    knob_changed_before = kd.change;
    clock_changed_before = false;
    if (!window_transient && !kd.change) {
      std::vector<energy::RankTiming> timing(static_cast<size_t>(ranks));
      const double step_s = s_per_sample * static_cast<double>(setting.batch);
      double pace = 0;
      for (int r = 0; r < ranks; ++r) {
        const double share = 1 - 0.15 * r / std::max(1, ranks - 1);
        const uint32_t f = clocks.clocks()[static_cast<size_t>(r)];
        auto& rt = timing[static_cast<size_t>(r)];
        rt.clock_mhz = f;
        rt.compute_s = step_s * share * (0.25 + 0.75 * 1980.0 / f) * (1 + 0.005 * noise(rng));
        pace = std::max(pace, rt.compute_s);
      }
      for (auto& rt : timing) rt.wait_s = pace - rt.compute_s + 1e-5;
      energy::ClockDecision cd;
      timed(clock, i, [&] { cd = clocks.observe(t, timing); });
      v.clock_changes += cd.changed;
      clock_changed_before = cd.changed;
    }
    if (i % kEvalEvery == kEvalEvery - 1) {
      const double e_kj = job_j / 1000;
      const double acc = std::clamp(0.92 - 0.10 * std::pow(e_kj, -0.5) + 0.002 * noise(rng), 0.0, 1.0);
      energy::StopCheck sc;
      std::string json;
      timed(stop, i, [&] {
        sc = rule.observe(job_j, acc);
        json = rule.describe_json();
      });
      ++v.evaluations;
      v.fit_ok = sc.fit.ok && !json.empty();
      if (sc.stop && v.stop_fired_at < 0) v.stop_fired_at = static_cast<int64_t>(i);
    }
    ++v.windows;
  }
  v.final_setting = knobs.incumbent();
  v.final_clocks = clocks.clocks();
  return v;
}

// The driver's per-window all-reduce, N times after a warm-up; returns the number of wrong sums.
int64_t run_allreduce(Communicator& comm, int windows, Part* part) {
  const int n = comm.size();
  std::vector<double> table(static_cast<size_t>(n) * kFields);
  auto one = [&] {
    std::fill(table.begin(), table.end(), 0.0);
    for (int k = 0; k < kFields; ++k) table[static_cast<size_t>(comm.rank() * kFields + k)] = comm.rank() + 1 + k;
    comm.all_reduce_sum(table.data(), static_cast<int64_t>(table.size()));
  };
  int64_t wrong = 0;
  for (int w = 0; w < 100; ++w) one();
  for (int r = 0; r < n; ++r)
    for (int k = 0; k < kFields; ++k) wrong += table[static_cast<size_t>(r * kFields + k)] != r + 1 + k;
  comm.barrier();
  part->seconds.assign(static_cast<size_t>(windows), 0.0);
  part->cpu_seconds.assign(static_cast<size_t>(windows), 0.0);
  for (size_t i = 0; i < static_cast<size_t>(windows); ++i) timed(part, i, one);
  return wrong;
}

// Returns false for --help (printed).
bool parse_args(int argc, char** argv, Args* a) {
  CLI::App app("joule-bench controller: the energy controller's cost per window (policies and all-reduce)",
               "joule-bench controller");
  bool help = false;
  cli::setup(app, &help);
  app.add_option("--ranks", a->ranks, "ranks R of the policies (default: the mpirun size, or 2 alone)")
      ->check(cli::at_least(1));
  app.add_option("--windows", a->windows, "windows N of the synthetic trace")->capture_default_str()
      ->check(cli::at_least(100));
  app.add_option("--window-s", a->window_s, "window length (s)")->capture_default_str()->check(cli::greater_than(0));
  app.add_option("--step-ms", a->step_ms, "training step time the cost is a share of (ms)")->check(cli::greater_than(0));
  cli::parse(app, argc - 1, argv + 1);
  if (help) return std::fputs(app.help().c_str(), stdout), false;
  return true;
}

std::string load_average() {  // the first three fields of /proc/loadavg, "?" where unreadable
  std::FILE* f = std::fopen("/proc/loadavg", "r");
  double a = 0, b = 0, c = 0;
  const bool ok = f != nullptr && std::fscanf(f, "%lf %lf %lf", &a, &b, &c) == 3;
  if (f != nullptr) std::fclose(f);
  if (!ok) return "?";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f %.2f %.2f", a, b, c);
  return buf;
}

std::string fmt(const char* format, double x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, x);
  return buf;
}

int bench(Communicator& comm, const Args& args) {
  const int size = comm.size();
  const int ranks = args.ranks > 0 ? args.ranks : (size > 1 ? size : 2);
  Part knob{"knob-policy"}, clock{"clock-policy"}, stop{"stop-rule"}, allreduce{"all-reduce"};
  const Verdict v = run_policies(args, ranks, &knob, &clock, &stop);
  const bool real_allreduce = size > 1;
  const int64_t wrong = real_allreduce ? run_allreduce(comm, args.windows, &allreduce) : 0;
  Part policies{"policies"}, total{"total"};
  for (size_t i = 0; i < knob.seconds.size(); ++i) {
    policies.seconds.push_back(knob.seconds[i] + clock.seconds[i] + stop.seconds[i]);
    policies.cpu_seconds.push_back(knob.cpu_seconds[i] + clock.cpu_seconds[i] + stop.cpu_seconds[i]);
    total.seconds.push_back(policies.seconds[i] + (real_allreduce ? allreduce.seconds[i] : 0.0));
    total.cpu_seconds.push_back(policies.cpu_seconds[i] + (real_allreduce ? allreduce.cpu_seconds[i] : 0.0));
  }
  policies.calls = total.calls = args.windows;
  std::vector<Part*> rows = {&knob, &clock, &stop, &policies, &allreduce, &total};
  // per rank: wall mean and p99, CPU mean and p99 of every row; the slowest rank's are shown
  constexpr size_t kStats = 4;
  std::vector<double> stats(static_cast<size_t>(size) * rows.size() * kStats, 0.0);
  for (size_t k = 0; k < rows.size(); ++k) {
    double* mine = &stats[(static_cast<size_t>(comm.rank()) * rows.size() + k) * kStats];
    mine[0] = mean_of(rows[k]->seconds);
    mine[1] = p99_of(rows[k]->seconds);
    mine[2] = mean_of(rows[k]->cpu_seconds);
    mine[3] = p99_of(rows[k]->cpu_seconds);
  }
  double counts[1] = {static_cast<double>(wrong)};
  if (size > 1) {
    comm.all_reduce_sum(stats.data(), static_cast<int64_t>(stats.size()));
    comm.all_reduce_sum(counts, 1);
  }
  std::vector<std::string> failures;
  if (v.windows != args.windows) failures.push_back("the trace ran " + std::to_string(v.windows) + " windows");
  if (v.knob_switches == 0) failures.push_back("the knob policy never changed the knobs");
  if (v.clock_changes == 0) failures.push_back("the clock policy never changed a clock");
  if (!v.fit_ok) failures.push_back("the stop rule has no fit");
  if (v.stop_fired_at < 0) failures.push_back("the stop rule never fired");
  if (v.evaluations != args.windows / kEvalEvery) failures.push_back("wrong number of evaluations");
  if (counts[0] != 0) failures.push_back(fmt("%.0f wrong all-reduce sums", counts[0]));
  if (comm.rank() != 0) return failures.empty() ? 0 : 1;

  std::string clocks_text;
  for (uint32_t f : v.final_clocks) clocks_text += (clocks_text.empty() ? "" : ",") + std::to_string(f);
  std::printf("# joule-bench controller: %d ranks, %d windows of %g s (synthetic trace), %d process(es)\n", ranks,
              args.windows, args.window_s, size);
  std::printf("# knob policy: batches 64..2048 x {f32,bf16} from 128/f32, %lld changes (profiles and switches), final %s\n",
              static_cast<long long>(v.knob_switches),
              energy::setting_name(v.final_setting).c_str());
  std::printf("# clock policy: %d ranks, 345..1980 MHz step 15 (110 clocks), %lld calls, %lld changes, final %s MHz\n",
              ranks, static_cast<long long>(clock.calls), static_cast<long long>(v.clock_changes), clocks_text.c_str());
  std::printf("# stop rule: every %d windows, %lld evaluations, fired at window %lld (kept evaluating)\n", kEvalEvery,
              static_cast<long long>(v.evaluations), static_cast<long long>(v.stop_fired_at));
  if (real_allreduce)
    std::printf("# all-reduce: all_reduce_sum of %dx%d doubles on the job's communicator (%d ranks)\n", ranks, kFields,
                size);
  else
    std::printf("# all-reduce: not timed: one process (run under mpirun -np %d for the real collective)\n", ranks);
  std::printf("# per window: the slowest rank's mean and p99 over the windows (0 where a part is not called), wall "
              "time; cpu_*: the thread's CPU time (less the time other processes took); load average %s\n",
              load_average().c_str());
  const bool shares = args.step_ms > 0;
  std::printf("%-14s %8s %10s %10s %11s %11s %11s %9s %9s\n", "part", "calls", "mean_us", "p99_us", "cpu_mean_us",
              "cpu_p99_us", "per_call_us", "%window", "%step");
  for (size_t k = 0; k < rows.size(); ++k) {
    const Part& p = *rows[k];
    double mean = 0, p99 = 0, cpu = 0, cpu_p99 = 0;
    for (int r = 0; r < size; ++r) {
      const double* theirs = &stats[(static_cast<size_t>(r) * rows.size() + k) * kStats];
      mean = std::max(mean, theirs[0]);
      p99 = std::max(p99, theirs[1]);
      cpu = std::max(cpu, theirs[2]);
      cpu_p99 = std::max(cpu_p99, theirs[3]);
    }
    if (&p == &allreduce && !real_allreduce) {
      std::printf("%-14s %8s %10s %10s %11s %11s %11s %9s %9s\n", p.name.c_str(), "-", "-", "-", "-", "-", "-", "-", "-");
      continue;
    }
    const double per_call = p.calls > 0 ? mean * static_cast<double>(args.windows) / static_cast<double>(p.calls) : 0;
    std::printf("%-14s %8lld %10.2f %10.2f %11.2f %11.2f %11.2f %9s %9s\n", p.name.c_str(),
                static_cast<long long>(p.calls), mean * 1e6, p99 * 1e6, cpu * 1e6, cpu_p99 * 1e6, per_call * 1e6,
                shares ? fmt("%.5f", 100 * mean / args.window_s).c_str() : "-",
                shares ? fmt("%.4f", 100 * mean / (args.step_ms / 1000)).c_str() : "-");
  }
  if (shares)
    std::printf("# %%window = mean / %g s window = the per-step cost (mean / (%g steps of %g ms)) as a share of a "
                "step; %%step = mean / %g ms, if decided every step\n",
                args.window_s, args.window_s * 1000 / args.step_ms, args.step_ms, args.step_ms);
  if (!real_allreduce) std::printf("# total is without the all-reduce\n");
  for (const std::string& f : failures) std::printf("FAILED: %s\n", f.c_str());
  return failures.empty() ? 0 : 1;
}

}  // namespace

int controller_main(int argc, char** argv) {
  std::unique_ptr<Communicator> comm;
  try {
    comm = make_communicator(&argc, &argv);
  } catch (const std::exception& e) {
    return report_error("joule-bench", -1, e);
  }
  Args args;
  try {
    if (!parse_args(argc, argv, &args)) return 0;
    JOULE_CHECK(comm->size() == 1 || args.ranks == 0 || args.ranks == comm->size(), "--ranks ", args.ranks,
                " but mpirun started ", comm->size(), " ranks");
  } catch (const std::exception& e) {  // the same on every rank: rank 0 says it
    if (comm->rank() == 0) print_error("joule-bench", -1, e);
    return exit_status_for(e);
  }
  try {
    return bench(*comm, args);
  } catch (const std::exception& e) {
    const int status = report_error("joule-bench", comm->rank(), e);
    if (comm->size() > 1) comm->abort(status);
    return status;
  }
}

}  // namespace joule::bench
