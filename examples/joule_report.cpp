// joule-report: per-rank and total energy accounting of a run directory (DESIGN.md §1), finished
// or crashed: a table (or --json) on stdout, with the energy controller's decision timeline when
// metrics.jsonl has decision lines, and with --plot a figure of power per rank over time and
// accuracy against cumulative energy (with the controller: the stop rule's fitted curve, the stop
// point and the knob changes, energy/report_timeline.h): SVG written here, PNG rendered from it by rsvg-convert
// (Debian's librsvg2-bin, installed by scripts/setup.sh; a rasterizer is not worth writing).
// Reads only; writes nothing but the --plot file.
// Exit status: 0 success, 2 invalid input (arguments, run directory, plot file), 1 any other failure.
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/file_util.h"
#include "energy/report.h"
#include "examples/cli.h"

namespace {

struct Arguments {
  std::string run_dir;
  std::string plot;
  bool json = false;
  bool help = false;
};

bool ends_with(const std::string& text, const std::string& suffix) {
  if (text.size() < suffix.size()) return false;
  for (size_t i = 0; i < suffix.size(); ++i)  // case-insensitive: "x.SVG" is fine
    if (std::tolower(static_cast<unsigned char>(text[text.size() - suffix.size() + i])) != suffix[i]) return false;
  return true;
}

// The options, for parsing and for --help (examples/cli.h).
void define_options(CLI::App& app, Arguments& a) {
  app.description("joule-report: per-rank and total energy accounting of a run directory");
  joule::cli::setup(app, &a.help);
  app.add_option("RUN_DIR", a.run_dir, "a run directory (<output>/<run.name>/), finished or crashed");
  app.add_option("--plot", a.plot,
                 "also draw power per rank over time and accuracy against energy, with the controller's fitted "
                 "curve, stop point and knob changes (.svg or .png)")
      ->type_name("FILE")
      ->check([](const std::string& plot) -> std::string {
        if (ends_with(plot, ".svg") || ends_with(plot, ".png")) return "";
        return "\"" + plot + "\": the file name must end in .svg or .png";
      });
  app.add_flag("--json", a.json, "print the accounting as one JSON object instead of the table");
  app.footer("usage: joule-report RUN_DIR [--plot FILE.svg|FILE.png] [--json]\n       joule-report --help");
}

std::string usage() {
  Arguments unused;
  CLI::App app("", "joule-report");
  define_options(app, unused);
  return app.help();
}

Arguments parse_arguments(int argc, char** argv) {
  Arguments a;
  CLI::App app("", "joule-report");
  define_options(app, a);
  std::vector<std::string> extras;
  joule::cli::parse(app, argc, argv, &extras);
  for (const std::string& arg : extras) {
    JOULE_CHECK(arg.empty() || arg[0] != '-', "unknown argument '", arg, "'; run 'joule-report --help' for the usage");
    JOULE_CHECK(false, "one RUN_DIR only (got \"", a.run_dir, "\" and \"", arg, "\")");
  }
  JOULE_CHECK(!a.run_dir.empty() || a.help, "RUN_DIR is required; run 'joule-report --help' for the usage");
  return a;
}

extern "C" char** environ;

// Renders the SVG text to `png` with rsvg-convert (through a temporary SVG next to it, so a failed
// render leaves no partial PNG: rsvg-convert writes a temporary PNG that is renamed at the end).
void write_png(const std::string& png, const std::string& svg_text) {
  const std::string svg = png + ".tmp.svg", temp_png = png + ".tmp.png";
  joule::write_file_atomic(svg, svg_text);
  const char* argv[] = {"rsvg-convert", "-o", temp_png.c_str(), svg.c_str(), nullptr};
  pid_t pid = 0;
  const int spawned = posix_spawnp(&pid, "rsvg-convert", nullptr, nullptr, const_cast<char**>(argv), environ);
  int status = 0;
  if (spawned == 0) waitpid(pid, &status, 0);
  std::filesystem::remove(svg);
  if (spawned != 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::filesystem::remove(temp_png);
    JOULE_CHECK(spawned == 0, "--plot \"", png, "\": PNG needs rsvg-convert (apt-get install librsvg2-bin); ",
                "or give a .svg file name");
    JOULE_CHECK_IO(false, "rsvg-convert failed to render \"", png, "\" (status ", status, ")");
  }
  std::error_code error;
  std::filesystem::rename(temp_png, png, error);
  if (error) {
    std::filesystem::remove(temp_png);  // nothing half-made stays behind
    JOULE_CHECK_IO(false, "--plot \"", png, "\": cannot write it: ", error.message());
  }
}

int run(int argc, char** argv) {
  const Arguments args = parse_arguments(argc, argv);
  const joule::energy::RunReport report = joule::energy::load_run_report(args.run_dir);
  // the plot first: an unwritable plot file fails the command before anything is printed
  if (!args.plot.empty()) {
    if (ends_with(args.plot, ".png")) {
      write_png(args.plot, joule::energy::report_svg(report));
    } else {
      joule::write_file_atomic(args.plot, joule::energy::report_svg(report));
    }
  }
  const std::string text = args.json ? joule::energy::report_json(report) : joule::energy::format_report_table(report);
  std::fputs(text.c_str(), stdout);
  std::fflush(stdout);  // before the stderr note, so a terminal shows them in order
  if (!args.plot.empty()) std::fprintf(stderr, "wrote %s\n", args.plot.c_str());  // stderr: --json stays one object
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return joule::cli::command_main("joule-report", argc, argv, usage, run); }
