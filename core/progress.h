// Progress output for long work: a live one-line bar redrawn in place on an interactive terminal
// (at most 5 times a second), plain lines otherwise (one per epoch, for logs and CI).
#pragma once

#include <cstdio>
#include <string>

namespace joule {

struct ProgressState {
  int64_t step = 0;
  int64_t total_steps = 0;
  int64_t epoch = 0;  // 0-based
  int64_t epochs = 0;
  double loss = 0;               // running mean training loss of the epoch
  double accuracy = -1;          // last test accuracy, < 0 when none yet
  double samples_per_s = 0;
  double elapsed_s = 0;
};

std::string format_duration(double seconds);  // "1m02s", "3h04m", "12s"
std::string format_progress(const ProgressState& state);  // "epoch 2/5 step 936/2340 loss 0.41 acc 85.1% 12.3k samples/s ETA 1m02s"

class ProgressPrinter {
 public:
  ProgressPrinter(std::FILE* out, bool interactive);  // out == nullptr: prints nothing (ranks > 0)
  void update(const ProgressState& state, double now_s);  // live redraw on a terminal; nothing otherwise
  void line(const ProgressState& state);                   // a permanent line
  void message(const std::string& text);                   // a permanent free-form line

 private:
  void clear_live();
  std::FILE* out_;
  bool interactive_;
  bool live_shown_ = false;
  double last_draw_s_ = -1;
};

}  // namespace joule
