#include "core/progress.h"

#include <cmath>

namespace joule {

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const auto s = static_cast<long long>(std::llround(seconds));
  char buffer[32];
  if (s >= 3600) {
    std::snprintf(buffer, sizeof buffer, "%lldh%02lldm", s / 3600, s % 3600 / 60);
  } else if (s >= 60) {
    std::snprintf(buffer, sizeof buffer, "%lldm%02llds", s / 60, s % 60);
  } else {
    std::snprintf(buffer, sizeof buffer, "%llds", s);
  }
  return buffer;
}

std::string format_progress(const ProgressState& st) {
  char buffer[256];
  const double rate = st.samples_per_s;
  const double steps_per_s = st.elapsed_s > 0 ? static_cast<double>(st.step) / st.elapsed_s : 0;
  const double eta = steps_per_s > 0 ? static_cast<double>(st.total_steps - st.step) / steps_per_s : -1;
  char accuracy[32] = "-";
  if (st.accuracy >= 0) std::snprintf(accuracy, sizeof accuracy, "%.2f%%", st.accuracy * 100);
  std::snprintf(buffer, sizeof buffer, "epoch %lld/%lld  step %lld/%lld  loss %.4f  acc %s  %.1fk samples/s  ETA %s",
                static_cast<long long>(st.epoch + 1), static_cast<long long>(st.epochs),
                static_cast<long long>(st.step), static_cast<long long>(st.total_steps), st.loss, accuracy,
                rate / 1000.0, format_duration(eta).c_str());
  return buffer;
}

ProgressPrinter::ProgressPrinter(std::FILE* out, bool interactive) : out_(out), interactive_(interactive) {}

void ProgressPrinter::clear_live() {
  if (out_ != nullptr && live_shown_) std::fputs("\r\033[2K", out_);
  live_shown_ = false;
}

void ProgressPrinter::update(const ProgressState& state, double now_s) {
  if (out_ == nullptr || !interactive_ || (last_draw_s_ >= 0 && now_s - last_draw_s_ < 0.2)) return;
  last_draw_s_ = now_s;
  const double fraction = state.total_steps > 0 ? static_cast<double>(state.step) / state.total_steps : 0;
  const int width = 20;
  const int filled = static_cast<int>(fraction * width);
  std::string bar = "[" + std::string(filled, '#') + std::string(width - filled, '.') + "] ";
  std::fprintf(out_, "\r\033[2K%s%s", bar.c_str(), format_progress(state).c_str());
  std::fflush(out_);
  live_shown_ = true;
}

void ProgressPrinter::line(const ProgressState& state) { message(format_progress(state)); }

void ProgressPrinter::message(const std::string& text) {
  if (out_ == nullptr) return;
  clear_live();
  std::fprintf(out_, "%s\n", text.c_str());
  std::fflush(out_);
}

}  // namespace joule
