#include "energy/svg_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace joule::energy {
namespace {

// Layout in pixels: a title band, then per panel a title line, the plot area and the x labels; the
// legend sits right of the plot area so it never hides data.
constexpr double kTitleBand = 64;
constexpr double kMarginLeft = 78;
constexpr double kLegendWidth = 190;
constexpr double kPanelTop = 34;
constexpr double kPanelBottom = 52;
constexpr size_t kMaxMarkers = 80;  // per series; denser series are drawn as lines only

// Matplotlib's tab10: distinct and readable for colour-blind readers.
constexpr const char* kColors[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                   "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

std::string num(double v) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.2f", v);
  return buffer;
}

// A tick label with as many decimals as the step needs ("0.25", "1500", "2e+06").
std::string tick_label(double value, double step) {
  char buffer[32];
  if (std::fabs(value) < step * 1e-6) value = 0;  // no "-0" or "1e-17"
  if (std::max(std::fabs(value), step) >= 1e6) {
    std::snprintf(buffer, sizeof buffer, "%.3g", value);
  } else {
    const int decimals = step >= 1 ? 0 : static_cast<int>(std::ceil(-std::log10(step) - 1e-9));
    std::snprintf(buffer, sizeof buffer, "%.*f", decimals, value);
  }
  return buffer;
}

struct Range {
  double lo = 0, hi = 1;
  std::vector<double> ticks;
};

Range axis_range(const std::vector<const std::vector<double>*>& values, bool from_zero) {
  double lo = INFINITY, hi = -INFINITY;
  for (const auto* vs : values)
    for (double v : *vs)
      if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
  if (!std::isfinite(lo)) lo = 0, hi = 1;
  if (from_zero) lo = std::min(lo, 0.0), hi = std::max(hi, 0.0);
  Range r;
  r.ticks = nice_ticks(lo, hi);
  r.lo = r.ticks.front();
  r.hi = r.ticks.back();
  return r;
}

void text(std::ostringstream& out, double x, double y, const std::string& content, const char* anchor,
          int size, const std::string& extra = "") {
  out << "<text x=\"" << num(x) << "\" y=\"" << num(y) << "\" text-anchor=\"" << anchor << "\" font-size=\""
      << size << "\"" << extra << ">" << xml_escape(content) << "</text>\n";
}

// A marker at pixel (x, y): a dashed vertical line with its label written upward from the bottom
// of the plot, or a diamond with its label to the right.
void render_marker(std::ostringstream& out, const PlotMarker& m, double x, double y, double plot_top,
                   double plot_bottom, double plot_right) {
  const std::string color = xml_escape(m.color);
  out << "<g" << (m.css_class.empty() ? "" : " class=\"" + xml_escape(m.css_class) + "\"") << ">\n";
  if (m.kind == PlotMarker::Kind::vertical) {
    out << "<line x1=\"" << num(x) << "\" y1=\"" << num(plot_top) << "\" x2=\"" << num(x) << "\" y2=\""
        << num(plot_bottom) << "\" stroke=\"" << color << "\" stroke-width=\"1.2\" stroke-dasharray=\"4 3\"/>\n";
    const double lx = x - 4, ly = plot_bottom - 6;
    text(out, lx, ly, m.label, "start", 11,
         " fill=\"" + color + "\" transform=\"rotate(-90 " + num(lx) + " " + num(ly) + ")\"");
  } else {
    out << "<path d=\"M" << num(x) << "," << num(y - 7) << " L" << num(x + 7) << "," << num(y) << " L" << num(x) << ","
        << num(y + 7) << " L" << num(x - 7) << "," << num(y) << " Z\" fill=\"" << color
        << "\" stroke=\"white\" stroke-width=\"1\"/>\n";
    const bool near_right = x > plot_right - 7.0 * static_cast<double>(m.label.size());  // ~7 px per character
    const double label_y = y - 8 < plot_top + 14 ? y + 20 : y - 8;  // below the diamond at the top edge
    text(out, near_right ? x - 10 : x + 10, label_y, m.label, near_right ? "end" : "start", 12, " fill=\"" + color + "\"");
  }
  out << "</g>\n";
}

void render_panel(std::ostringstream& out, const PlotPanel& panel, double top, double width, double height) {
  const double left = kMarginLeft, right = width - kLegendWidth;
  const double plot_top = top + kPanelTop, plot_bottom = top + height - kPanelBottom;
  std::vector<const std::vector<double>*> xs, ys;
  size_t points = 0;
  for (const PlotSeries& s : panel.series) {
    xs.push_back(&s.x);
    ys.push_back(&s.y);
    points += std::min(s.x.size(), s.y.size());
  }
  std::vector<double> marker_x, marker_y;  // annotations stay in view
  for (const PlotMarker& m : panel.markers) {
    marker_x.push_back(m.x);
    if (m.kind == PlotMarker::Kind::point) marker_y.push_back(m.y);
  }
  if (points > 0) xs.push_back(&marker_x), ys.push_back(&marker_y);
  const Range rx = axis_range(xs, panel.x_from_zero), ry = axis_range(ys, panel.y_from_zero);
  auto px = [&](double x) { return left + (x - rx.lo) / (rx.hi - rx.lo) * (right - left); };
  auto py = [&](double y) { return plot_bottom - (y - ry.lo) / (ry.hi - ry.lo) * (plot_bottom - plot_top); };

  out << "<g class=\"panel\">\n";
  text(out, (left + right) / 2, top + 20, panel.title, "middle", 15, " font-weight=\"bold\"");
  // grid and ticks
  const double x_step = rx.ticks.size() > 1 ? rx.ticks[1] - rx.ticks[0] : 1;
  const double y_step = ry.ticks.size() > 1 ? ry.ticks[1] - ry.ticks[0] : 1;
  for (double t : rx.ticks) {
    const double x = px(t);
    out << "<line x1=\"" << num(x) << "\" y1=\"" << num(plot_top) << "\" x2=\"" << num(x) << "\" y2=\""
        << num(plot_bottom + 5) << "\" stroke=\"#e4e4e4\"/>\n";
    text(out, x, plot_bottom + 19, tick_label(t, x_step), "middle", 12);
  }
  for (double t : ry.ticks) {
    const double y = py(t);
    out << "<line x1=\"" << num(left - 5) << "\" y1=\"" << num(y) << "\" x2=\"" << num(right) << "\" y2=\""
        << num(y) << "\" stroke=\"#e4e4e4\"/>\n";
    text(out, left - 8, y + 4, tick_label(t, y_step), "end", 12);
  }
  out << "<rect x=\"" << num(left) << "\" y=\"" << num(plot_top) << "\" width=\"" << num(right - left)
      << "\" height=\"" << num(plot_bottom - plot_top) << "\" fill=\"none\" stroke=\"#333\"/>\n";
  text(out, (left + right) / 2, plot_bottom + 42, panel.x_label, "middle", 13);
  const double label_x = 20, label_y = (plot_top + plot_bottom) / 2;
  text(out, label_x, label_y, panel.y_label, "middle", 13,
       " transform=\"rotate(-90 " + num(label_x) + " " + num(label_y) + ")\"");
  if (points == 0) text(out, (left + right) / 2, label_y, panel.empty_text, "middle", 14, " fill=\"#888\"");

  // series and legend
  for (size_t i = 0; i < panel.series.size(); ++i) {
    const PlotSeries& s = panel.series[i];
    const std::string color = s.color.empty() ? kColors[i % (sizeof kColors / sizeof kColors[0])] : xml_escape(s.color);
    std::ostringstream coords;
    size_t n = 0;
    for (size_t k = 0; k < std::min(s.x.size(), s.y.size()); ++k) {
      if (!std::isfinite(s.x[k]) || !std::isfinite(s.y[k])) continue;
      coords << (n++ ? " " : "") << num(px(s.x[k])) << "," << num(py(s.y[k]));
    }
    if (s.line)
      out << "<polyline" << (s.css_class.empty() ? "" : " class=\"" + xml_escape(s.css_class) + "\"")
          << " fill=\"none\" stroke=\"" << color << "\" stroke-width=\"2\" stroke-linejoin=\"round\""
          << (s.dashed ? " stroke-dasharray=\"6 4\"" : "") << " points=\"" << coords.str() << "\"/>\n";
    if (s.points && (n <= kMaxMarkers || !s.line)) {
      for (size_t k = 0; k < std::min(s.x.size(), s.y.size()); ++k) {
        if (!std::isfinite(s.x[k]) || !std::isfinite(s.y[k])) continue;
        out << "<circle cx=\"" << num(px(s.x[k])) << "\" cy=\"" << num(py(s.y[k])) << "\" r=\"3\" fill=\"" << color
            << "\"/>\n";
      }
    }
    const double ly = plot_top + 12 + 20 * static_cast<double>(i);
    if (s.line)
      out << "<line x1=\"" << num(right + 16) << "\" y1=\"" << num(ly) << "\" x2=\"" << num(right + 40) << "\" y2=\""
          << num(ly) << "\" stroke=\"" << color << "\" stroke-width=\"2.5\"" << (s.dashed ? " stroke-dasharray=\"6 4\"" : "")
          << "/>\n";
    else
      out << "<circle cx=\"" << num(right + 28) << "\" cy=\"" << num(ly) << "\" r=\"3.5\" fill=\"" << color << "\"/>\n";
    text(out, right + 46, ly + 4, s.label, "start", 12);
  }
  if (points > 0)
    for (const PlotMarker& m : panel.markers) render_marker(out, m, px(m.x), py(m.y), plot_top, plot_bottom, right);
  out << "</g>\n";
}

}  // namespace

std::string xml_escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default:
        // control characters are not allowed in XML 1.0 text
        if (static_cast<unsigned char>(c) >= 0x20 || c == '\t' || c == '\n') out += c;
    }
  }
  return out;
}

std::vector<double> nice_ticks(double lo, double hi, int target) {
  if (!std::isfinite(lo) || !std::isfinite(hi)) lo = 0, hi = 1;
  if (lo > hi) std::swap(lo, hi);
  if (hi == lo) {
    const double pad = lo == 0 ? 1 : std::fabs(lo) * 0.1;
    lo -= lo == 0 ? 0 : pad;
    hi += pad;
  }
  const double raw = (hi - lo) / std::max(target, 1);
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  const double f = raw / magnitude;
  const double step = (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * magnitude;
  // a little slack so values equal to a tick up to rounding do not add a step
  const double first = std::floor(lo / step + 1e-9), last = std::ceil(hi / step - 1e-9);
  std::vector<double> ticks;
  for (double k = first; k <= last; ++k) ticks.push_back(k * step);
  if (ticks.size() < 2) ticks.push_back(ticks.empty() ? lo : ticks.back() + step);
  return ticks;
}

std::string render_svg(const PlotFigure& figure) {
  const double width = figure.width, panel_height = figure.panel_height;
  const double height = kTitleBand + panel_height * static_cast<double>(figure.panels.size()) + 8;
  std::ostringstream out;
  out << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << figure.width << "\" height=\"" << num(height)
      << "\" viewBox=\"0 0 " << figure.width << " " << num(height) << "\" font-family=\"DejaVu Sans, Arial, sans-serif\">\n";
  out << "<title>" << xml_escape(figure.title) << "</title>\n";
  out << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  text(out, width / 2, 28, figure.title, "middle", 18, " font-weight=\"bold\"");
  if (!figure.subtitle.empty()) text(out, width / 2, 50, figure.subtitle, "middle", 13, " fill=\"#555\"");
  for (size_t i = 0; i < figure.panels.size(); ++i)
    render_panel(out, figure.panels[i], kTitleBand + panel_height * static_cast<double>(i), width, panel_height);
  out << "</svg>\n";
  return out.str();
}

}  // namespace joule::energy
