// Progress output: duration and progress-line formatting, and what ProgressPrinter writes to a
// terminal (live redraws) versus a log (permanent lines only). The printer writes to a tmpfile()
// that is read back; redraw throttling is driven by the `now_s` the test passes, not by a clock.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <string>

#include "core/progress.h"

namespace joule {
namespace {

// A tmpfile() whose whole content can be read back.
class CapturedFile {
 public:
  CapturedFile() : file_(std::tmpfile()) {}
  ~CapturedFile() {
    if (file_ != nullptr) std::fclose(file_);
  }
  CapturedFile(const CapturedFile&) = delete;
  CapturedFile& operator=(const CapturedFile&) = delete;
  std::FILE* get() const { return file_; }
  std::string content() const {
    std::fflush(file_);
    std::rewind(file_);
    std::string out;
    char buffer[256];
    size_t n;
    while ((n = std::fread(buffer, 1, sizeof buffer, file_)) > 0) out.append(buffer, n);
    std::fseek(file_, 0, SEEK_END);
    return out;
  }

 private:
  std::FILE* file_;
};

ProgressState sample_state() {
  ProgressState st;
  st.epoch = 1;
  st.epochs = 5;
  st.step = 936;
  st.total_steps = 2340;
  st.loss = 0.41;
  st.samples_per_s = 12300;
  st.elapsed_s = 10;  // 93.6 steps/s: 1404 steps left take 15 s
  return st;
}

int count(const std::string& text, const std::string& what) {
  int n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++n;
  return n;
}

}  // namespace

TEST(Progress, FormatDuration) {
  EXPECT_EQ(format_duration(0), "0s");
  EXPECT_EQ(format_duration(0.4), "0s");
  EXPECT_EQ(format_duration(12), "12s");
  EXPECT_EQ(format_duration(59.4), "59s");
  EXPECT_EQ(format_duration(59.6), "1m00s");  // rounds before choosing the unit
  EXPECT_EQ(format_duration(62), "1m02s");
  EXPECT_EQ(format_duration(3599), "59m59s");
  EXPECT_EQ(format_duration(3600), "1h00m");
  EXPECT_EQ(format_duration(3725), "1h02m");
  EXPECT_EQ(format_duration(11040), "3h04m");
  EXPECT_EQ(format_duration(100 * 3600.0), "100h00m");
  EXPECT_EQ(format_duration(-1), "?");
  EXPECT_EQ(format_duration(std::nan("")), "?");
  EXPECT_EQ(format_duration(std::numeric_limits<double>::infinity()), "?");
}

TEST(Progress, FormatProgressWithoutAccuracy) {
  const std::string line = format_progress(sample_state());
  EXPECT_NE(line.find("epoch 2/5"), std::string::npos) << line;  // epochs print 1-based
  EXPECT_NE(line.find("step 936/2340"), std::string::npos) << line;
  EXPECT_NE(line.find("loss 0.4100"), std::string::npos) << line;
  EXPECT_NE(line.find("acc -"), std::string::npos) << line;
  EXPECT_EQ(line.find('%'), std::string::npos) << line;
  EXPECT_NE(line.find("12.3k samples/s"), std::string::npos) << line;
  EXPECT_NE(line.find("ETA 15s"), std::string::npos) << line;
  EXPECT_EQ(line.find('\n'), std::string::npos) << line;
}

TEST(Progress, FormatProgressWithAccuracy) {
  ProgressState st = sample_state();
  st.accuracy = 0.85;
  const std::string line = format_progress(st);
  EXPECT_NE(line.find("acc 85.00%"), std::string::npos) << line;
  EXPECT_EQ(line.find("acc -"), std::string::npos) << line;
  st.accuracy = 0;  // zero is an accuracy, not "none yet"
  EXPECT_NE(format_progress(st).find("acc 0.00%"), std::string::npos);
}

TEST(Progress, FormatProgressWithoutElapsedTimeHasUnknownEta) {
  ProgressState st = sample_state();
  st.elapsed_s = 0;
  EXPECT_NE(format_progress(st).find("ETA ?"), std::string::npos) << format_progress(st);
  st = ProgressState{};
  EXPECT_NE(format_progress(st).find("epoch 1/0"), std::string::npos) << format_progress(st);
}

TEST(Progress, NonInteractivePrintsOnlyPermanentLines) {
  CapturedFile out;
  ASSERT_NE(out.get(), nullptr);
  ProgressPrinter printer(out.get(), false);
  printer.update(sample_state(), 0.0);
  printer.update(sample_state(), 10.0);
  EXPECT_EQ(out.content(), "");

  printer.line(sample_state());
  const std::string text = out.content();
  EXPECT_EQ(text, format_progress(sample_state()) + "\n");
  EXPECT_EQ(text.find('\r'), std::string::npos);
  EXPECT_EQ(text.find('\033'), std::string::npos);

  printer.message("done");
  EXPECT_EQ(out.content(), text + "done\n");
}

TEST(Progress, InteractiveRedrawsInPlace) {
  CapturedFile out;
  ASSERT_NE(out.get(), nullptr);
  ProgressPrinter printer(out.get(), true);
  ProgressState st = sample_state();
  st.step = 1170;  // half way: 10 of 20 cells
  printer.update(st, 100.0);
  const std::string first = out.content();
  EXPECT_EQ(first.rfind('\r', 0), 0u) << "a live line starts with a carriage return";
  EXPECT_NE(first.find("[##########..........] "), std::string::npos) << first;
  EXPECT_NE(first.find("step 1170/2340"), std::string::npos) << first;
  EXPECT_EQ(first.find('\n'), std::string::npos) << "a live line is not terminated";

  printer.update(st, 100.1);  // within 0.2 s of the last draw: skipped
  EXPECT_EQ(out.content(), first);
  printer.update(st, 100.25);
  EXPECT_EQ(count(out.content(), "\r"), 2);

  printer.line(st);  // clears the live line, then a permanent one
  const std::string all = out.content();
  EXPECT_EQ(all.substr(all.size() - format_progress(st).size() - 1), format_progress(st) + "\n");
  EXPECT_EQ(count(all, "\r"), 3);
  EXPECT_EQ(count(all, "\n"), 1);

  printer.message("bye");  // no live line is shown any more: nothing to clear
  EXPECT_EQ(out.content(), all + "bye\n");
}

}  // namespace joule
