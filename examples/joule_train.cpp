// joule-train: trains the model a config describes and writes the run directory (DESIGN.md §1),
// on one process or on every rank of an mpirun/srun job (same arguments on every rank).
// Exit status: 0 success (an early stop too), 2 invalid input (nothing written), 3 interrupted by
// SIGINT/SIGTERM, 1 any other failure. An error on one rank of a multi-rank job names that rank
// and aborts the whole job, so no rank waits forever.
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/build_info.h"
#include "core/config.h"
#include "core/dataset.h"
#include "core/error.h"
#include "core/exit_status.h"
#include "core/file_util.h"
#include "core/gemm.h"
#include "distributed/checkpoint.h"
#include "distributed/make_communicator.h"
#include "distributed/node_shared_meter.h"
#include "distributed/trainer.h"
#include "energy/clock_actuator.h"
#include "energy/rank_meter.h"
#include "examples/cli.h"

namespace {

struct Arguments {
  std::string config_path;
  std::vector<std::string> overrides;
  std::string output;
  bool check = false;
  bool resume = false;
  std::string resume_from;  // --resume=CHECKPOINT_DIR; "" = the run directory's newest complete one
  bool reset_clocks = false;
  bool version = false;  // answered by main() before MPI starts, as --help
  bool help = false;
};

// The options, for parsing and for --help (examples/cli.h).
void define_options(CLI::App& app, Arguments& a) {
  app.description("joule-train: trains the model a config describes and writes the run directory");
  joule::cli::setup(app, &a.help);
  app.add_flag("--version", a.version, "print the version and the features of this build, and exit");
  app.add_option("--config", a.config_path, "run configuration (protobuf text format, see README 'Config reference')")
      ->type_name("FILE");
  app.add_option("--set", a.overrides, "override one scalar config field (repeatable, applied in order)")
      ->type_name("a.b=VALUE")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
      ->allow_extra_args(false);
  app.add_option("--output", a.output, "parent folder of the run directory (overrides run.output)")->type_name("DIR");
  app.add_flag("--check", a.check, "validate and print the resolved config; run nothing");
  app.add_option("--resume", a.resume_from,
                 "continue the run in its directory (run.name and --output name it) from its newest complete "
                 "checkpoint, or from the checkpoint folder given")
      ->type_name("[CHECKPOINT]")
      ->expected(0, 1);
  app.add_flag("--reset-clocks", a.reset_clocks, "restore the GPUs' default clocks (after a run that could not)");
  app.footer(
      "usage: joule-train --config FILE [--set a.b.c=VALUE]... [--output DIR] [--resume] [--check]\n"
      "       joule-train --reset-clocks | --version | --help");
}

std::string usage() {
  Arguments unused;
  CLI::App app("", "joule-train");
  define_options(app, unused);
  return app.help();
}

// Signal-handler state, the only globals: the stop flag, and a pipe to the signal watcher thread.
std::atomic<bool> g_stop_requested{false};
int g_signal_pipe[2] = {-1, -1};
// A stop request undoes this process's clock locks at once: mpirun follows SIGTERM with SIGKILL
// within seconds, which no destructor survives. joule-clockd connections are closed in the handler
// (the daemon resets); NVML is not async-signal-safe (a handler calling it while the interrupted
// thread holds NVML's lock deadlocks), so the handler wakes the watcher thread, which resets them.
// A second signal ends the process at once with status 3: the watcher resets the clocks first (the
// first signal's reset may still be running there), and SIGALRM ends it if NVML never returns.
extern "C" void on_exit_alarm(int) { ::_exit(3); }

extern "C" void on_stop_signal(int) {
  const bool again = g_stop_requested.exchange(true);
  joule::energy::reset_clocks_from_signal();
  if (again) {
    static const char message[] = "joule-train: second interrupt: exiting now (status 3)\n";
    [[maybe_unused]] const ssize_t m = ::write(STDERR_FILENO, message, sizeof message - 1);
    if (g_signal_pipe[1] < 0) ::_exit(3);
    std::signal(SIGALRM, on_exit_alarm);
    ::alarm(2);
  }
  if (g_signal_pipe[1] >= 0) {
    const char wake = again ? 2 : 1;
    [[maybe_unused]] const ssize_t n = ::write(g_signal_pipe[1], &wake, 1);
  }
}

// The signal watcher: resets the clocks (NVML) outside signal context after each stop request, and
// ends the process after a second one.
void start_signal_watcher() {
  if (::pipe(g_signal_pipe) != 0) return;  // no watcher: NVML locks are reset by the clean stop alone
  std::thread([] {
    char wake = 0;
    while (::read(g_signal_pipe[0], &wake, 1) == 1) {
      joule::energy::reset_clocks_emergency();
      if (wake == 2) ::_exit(3);
    }
  }).detach();
}

Arguments parse_arguments(int argc, char** argv) {
  Arguments a;
  CLI::App app("", "joule-train");
  define_options(app, a);
  joule::cli::parse(app, argc, argv);
  if (a.help || a.version) return a;
  a.resume = app.count("--resume") > 0;
  JOULE_CHECK(!a.output.empty() || app.count("--output") == 0,
              "--output: expected a folder for run directories, got an empty string");
  JOULE_CHECK(!a.config_path.empty() || a.reset_clocks,
              "--config FILE is required; run 'joule-train --help' for the usage");
  JOULE_CHECK(!a.resume || !a.check, "--resume and --check: choose one");
  return a;
}

std::string default_run_name(const std::string& config_path) {
  char stamp[32];
  std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &utc);
  // the stem becomes part of a directory name: only the characters run.name allows (`<(...)` gives "63")
  std::string stem = std::filesystem::path(config_path).stem().string();
  for (char& ch : stem)
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '.' && ch != '_' && ch != '-') ch = '_';
  if (stem.empty() || stem[0] == '.') stem = "run" + stem;
  return stem + "-" + stamp;
}

void print_version() {
  auto yes_no = [](int flag) { return flag ? "yes" : "no"; };
  std::printf("joule-train %s (%s)\nfeatures: cpu yes, cuda %s, nccl %s, mpi %s, nvml %s, blas %s, onednn %s\n",
              JOULE_VERSION, JOULE_BUILD_TYPE, yes_no(JOULE_HAVE_CUDA), yes_no(JOULE_HAVE_NCCL), yes_no(JOULE_HAVE_MPI),
              yes_no(JOULE_HAVE_NVML), yes_no(JOULE_HAVE_BLAS), yes_no(JOULE_HAVE_ONEDNN));
  // run.cpu_math: what each backend would run here; auto picks among the available ones per model
  for (joule::CpuMath kind : joule::all_cpu_math()) {
    const std::string why = joule::cpu_math_unavailable(kind);
    std::printf("cpu math %-8s %s\n", joule::cpu_math_name(kind),
                why.empty() ? joule::make_gemm_backend(kind)->kernel().c_str() : ("unavailable: " + why).c_str());
  }
  std::printf("cpu math auto: times the model's GEMM shapes on each available backend at start\n");
  const std::string no_bf16 = joule::bf16_unavailable_reason();
  std::printf("cpu bf16 %s\n", no_bf16.empty() ? "yes" : ("no: " + no_bf16 + " (train.precision bf16 computes in f32)").c_str());
}

// Rank 0 decides (run name, run directory); every rank learns the outcome, so a refusal ends all
// ranks the same way instead of leaving some waiting in a collective.
std::string agree_with_rank0(joule::Communicator& comm, const std::string& mine) { return comm.all_gather(mine)[0]; }

// True on every rank when `mine` is true on any (one collective).
bool any_rank(joule::Communicator& comm, bool mine) {
  double votes = mine ? 1.0 : 0.0;
  comm.all_reduce_sum(&votes, 1);
  return votes > 0;
}

// Every rank looks for the run directory before any rank creates it: on nodes without a shared file
// system a stale directory on another node must refuse the run as well. Then rank 0 creates it with
// config.pbtxt; a failure there removes what it made, so a refused start leaves nothing behind.
void create_run_directory(joule::Communicator& comm, const std::filesystem::path& run_dir,
                          const joule::pb::Config& config) {
  std::error_code error;
  const bool exists = std::filesystem::exists(run_dir, error);
  const std::vector<std::string> seen = comm.all_gather(exists ? comm.host() : "");
  std::string where;
  for (size_t r = 0; r < seen.size(); ++r)
    if (!seen[r].empty()) where += (where.empty() ? "" : ", ") + ("rank " + std::to_string(r) + " on " + seen[r]);
  JOULE_CHECK(where.empty(), "run directory ", run_dir.string(), " exists already (", where,
              "): choose another run.name (--set run.name=...) or --output; runs are never overwritten");
  std::string refusal;  // "2" or "1" (the exit status) + the message
  if (comm.rank() == 0) {
    bool created = false;
    try {
      std::filesystem::create_directories(run_dir.parent_path(), error);
      created = std::filesystem::create_directory(run_dir, error) && !error;
      JOULE_CHECK(created, "cannot create run directory ", run_dir.string(), ": ",
                  error ? error.message() : "it appeared meanwhile");
      joule::write_file_atomic((run_dir / "config.pbtxt").string(), joule::config_to_text(config));
    } catch (const joule::Error& e) {  // a full disk: nothing half-made stays to take the name
      if (created) std::filesystem::remove_all(run_dir, error);
      refusal = (e.kind() == joule::ErrorKind::invalid_input ? "2" : "1") + e.message();
    }
  }
  refusal = agree_with_rank0(comm, refusal);
  if (refusal.empty()) return;
  if (refusal[0] == '2') JOULE_FAIL_INPUT(refusal.substr(1));
  JOULE_CHECK_IO(false, refusal.substr(1));
}

// --resume: the checkpoint to continue from (rank 0's file system decides that the run directory
// exists); none when the directory holds no complete one (the run starts over in it). A resumed
// run keeps the GEMM backend its checkpoint chose (run.cpu_math auto could time another one now).
std::optional<joule::LoadedCheckpoint> find_checkpoint(joule::Communicator& comm, const std::filesystem::path& run_dir,
                                                       const std::string& named, joule::pb::Config& config) {
  std::error_code error;
  const std::string missing =
      agree_with_rank0(comm, std::filesystem::is_directory(run_dir, error) ? "" : run_dir.string());
  JOULE_CHECK(missing.empty(), "--resume: run directory ", missing,
              " does not exist (run.name and --output name the run to continue)");
  std::optional<joule::LoadedCheckpoint> found;
  if (!named.empty()) {
    found = joule::load_checkpoint(comm, named);
  } else {
    std::vector<std::string> notes;
    found = joule::load_newest_checkpoint(comm, run_dir.string(), &notes);
    if (comm.rank() == 0) {
      for (const std::string& note : notes) std::fprintf(stderr, "joule-train: --resume: %s\n", note.c_str());
      if (found && !notes.empty())
        std::fprintf(stderr, "joule-train: --resume: using %s instead\n", found->dir.c_str());
    }
  }
  if (!found) return found;
  if (config.run().cpu_math() == "auto" && !found->manifest.cpu_math().empty())
    config.mutable_run()->set_cpu_math(found->manifest.cpu_math());
  const std::string changes = joule::Trainer::config_changes(*found, config);
  if (comm.rank() == 0 && !changes.empty())
    std::fprintf(stderr, "joule-train: --resume: the config differs from the checkpoint's: %s\n", changes.c_str());
  return found;
}

// What the run takes from the environment (read in main(), nowhere else).
struct Environment {
  std::string fault_plan;  // JOULE_FAULT (tests of failure handling)
};

int run(int argc, char** argv, joule::Communicator& comm, const Environment& env) {
  // a rank blocked in a collective by a frozen one still ends on SIGINT/SIGTERM (status 3)
  comm.set_interrupt_flag(&g_stop_requested);
  const Arguments args = parse_arguments(argc, argv);
  if (args.reset_clocks) {  // by hand, after a run that could not (energy.clock of --config, else every GPU)
    joule::energy::ClockActuatorOptions options;
    if (!args.config_path.empty())
      options =
          joule::energy::clock_actuator_options(joule::load_config(args.config_path, args.overrides).energy().clock());
    if (options.gpu == "local") options.gpu = std::to_string(comm.local_rank());
    return joule::energy::reset_clocks_command(options, stdout);
  }
  joule::pb::Config config = joule::load_config(args.config_path, args.overrides);
  if (!args.output.empty()) config.mutable_run()->set_output(args.output);
  if (args.resume && config.run().name().empty() && !args.resume_from.empty()) {  // the checkpoint's run directory
    const std::filesystem::path run_dir =
        std::filesystem::path(args.resume_from).lexically_normal().parent_path().parent_path();
    config.mutable_run()->set_output(run_dir.parent_path().empty() ? "." : run_dir.parent_path().string());
    config.mutable_run()->set_name(run_dir.filename().string());
  }
  JOULE_CHECK(!args.resume || !config.run().name().empty(),
              "--resume: run.name is empty: name the run directory to continue (--set run.name=NAME, with --output "
              "its parent folder)");
  if (config.run().name().empty())
    config.mutable_run()->set_name(agree_with_rank0(comm, default_run_name(args.config_path)));

  // Everything that can be wrong with the input is checked before the run directory exists.
  const joule::pb::DataConfig& data = config.data();
  joule::Dataset train_set =
      joule::load_dataset(data.train_images(), data.train_labels(), data.num_classes(), data.train_limit());
  joule::Dataset test_set =
      joule::load_dataset(data.test_images(), data.test_labels(), data.num_classes(), data.test_limit());
  if (args.check) {  // what the run would refuse, --check refuses too
    joule::Trainer::check_inputs(config, train_set, test_set, comm.size());
    if (comm.rank() == 0) std::fputs(joule::config_to_text(config).c_str(), stdout);
    return 0;
  }
  const std::filesystem::path run_dir = std::filesystem::path(config.run().output()) / config.run().name();
  std::optional<joule::LoadedCheckpoint> checkpoint;
  if (args.resume) checkpoint = find_checkpoint(comm, run_dir, args.resume_from, config);
  joule::TrainerSetup setup;
  setup.fault_plan = env.fault_plan;
  joule::Trainer trainer(config, train_set, test_set, comm, setup);
  if (checkpoint) {
    trainer.restore(*checkpoint);
  } else if (args.resume) {
    trainer.resume_from_start();
  }
  // an interrupt while the data loaded or the model was built: stop before anything is written
  if (any_rank(comm, g_stop_requested.load())) {
    if (comm.rank() == 0) std::fprintf(stderr, "joule-train: interrupted before training started; nothing written\n");
    return 3;
  }
  // The SM-clock knob: its bounds are checked against the card here, before anything is written.
  // Destroyed on every way out of run() (return or exception), which resets what it locked.
  joule::energy::ClockActuatorOptions clock_options = joule::energy::clock_actuator_options(config.energy().clock());
  if (clock_options.gpu == "local") clock_options.gpu = std::to_string(comm.local_rank());
  std::vector<std::string> clock_warnings;
  const std::unique_ptr<joule::energy::ClockActuator> clock =
      joule::energy::make_clock_actuator(clock_options, clock_warnings);
  if (!args.resume) create_run_directory(comm, run_dir, config);
  joule::TrainerIo io;
  io.run_dir = run_dir.string();
  io.progress = stderr;
  io.interactive = isatty(STDERR_FILENO) != 0;
  io.stop_requested = &g_stop_requested;
  // CPU ranks: RAPL where readable, else the labelled estimate. GPU ranks (the CUDA backend) pass
  // their device's PCI bus id here and add NVML.
  // Ranks sharing a node share its RAPL reading (split by CPU time), so the job counts it once.
  const joule::energy::RankMeterOptions meter_options{"", config.energy().estimate_watts_per_core(),
                                                      config.energy().estimate_static_watts()};
  joule::energy::RankMeter rank_meter = joule::energy::make_rank_meter(meter_options);
  std::string share_note;
  const std::unique_ptr<joule::energy::Meter> meter =
      joule::make_node_shared_meter(std::move(rank_meter.meter), comm, {meter_options.gpu, {}}, &share_note);
  io.meter = meter.get();
  io.meter_warnings = rank_meter.warnings;
  if (!share_note.empty()) io.meter_notes.push_back(share_note);
  io.meter_warnings.insert(io.meter_warnings.end(), clock_warnings.begin(), clock_warnings.end());
  io.clock = clock.get();
  const joule::pb::Summary summary = trainer.run(io);
  const bool interrupted = summary.stop_reason() == "interrupted" || g_stop_requested.load();  // a late signal too
  if (comm.rank() == 0)
    std::fprintf(stderr, "%s: %u steps, accuracy %.2f%% (best %.2f%%), %.1f s, %.0f J (%s) -> %s\n",
                 summary.stop_reason().c_str(), summary.steps(), summary.final_accuracy() * 100,
                 summary.best_accuracy() * 100, summary.seconds(), summary.energy_j(),
                 summary.measured() ? "measured" : "estimate", run_dir.c_str());
  if (comm.rank() == 0 && summary.controller_decisions() > 0)
    std::fprintf(
        stderr, "controller: %u decisions (metrics.jsonl \"decision\" lines), %u knob changes, ending at batch %u %s\n",
        summary.controller_decisions(), summary.knob_changes(), summary.batch_size(), summary.precision().c_str());
  if (comm.rank() == 0 && summary.stop_reason() == "marginal_gain" &&
      summary.full_budget_energy_j() > summary.energy_j() && summary.energy_j() > 0)
    std::fprintf(stderr,
                 "controller: the full budget would have spent about %.0f J for a predicted %.2f%%: this run used "
                 "%.0f%% less energy at %.2f%%\n",
                 summary.full_budget_energy_j(), summary.predicted_full_accuracy() * 100,
                 100 * (1 - summary.energy_j() / summary.full_budget_energy_j()), summary.final_accuracy() * 100);
  if (interrupted && !summary.checkpoint_error().empty()) {
    if (comm.rank() == 0)
      std::fprintf(stderr, "joule-train: error: interrupted, and the checkpoint failed: %s\n",
                   summary.checkpoint_error().c_str());
    return 1;
  }
  if (interrupted) return 3;
  if (summary.stop_reason() == "diverged") return 1;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {  // answered without starting MPI
    const std::string arg = argv[i];
    if (arg == "--version") return print_version(), 0;
    if (arg == "--help" || arg == "-h") return std::fputs(usage().c_str(), stdout), 0;
  }
  // From the start: an interrupt while data loads is a clean stop (status 3), not a kill by signal.
  // SIGUSR1 too: mpirun forwards it to every rank (it aborts the job on SIGINT/SIGTERM instead),
  // which is how scripts/mpirun.sh turns Ctrl-C into a clean stop.
  start_signal_watcher();
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
  std::signal(SIGUSR1, on_stop_signal);
  std::unique_ptr<joule::Communicator> comm;
  int status = 0;
  try {
    comm = joule::make_communicator(&argc, &argv);
    Environment env;
    if (const char* fault = std::getenv("JOULE_FAULT")) env.fault_plan = fault;
    status = run(argc, argv, *comm, env);
  } catch (const std::exception& e) {
    status = joule::report_error("joule-train", comm ? comm->rank() : 0, e);  // core/exit_status.h
    // one rank's failure must end the job: the others may be waiting in a collective (the clock
    // actuator, owned by run(), was destroyed while the exception left it: clocks are reset)
    if (comm && comm->size() > 1) comm->abort(status);
  }
  return status;
}
