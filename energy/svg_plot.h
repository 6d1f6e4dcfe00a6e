// A small SVG writer for line charts: a figure of panels stacked top to bottom, each with axes,
// "nice" ticks (1, 2, 5 × 10^k), axis labels, a legend and one polyline and/or point markers per
// series, and annotations: labelled vertical lines (e.g. knob changes) and labelled diamonds (e.g.
// a stop point), both inside the axis range. Pure string building, no dependencies; every text is
// XML-escaped. joule-report draws its power and accuracy-versus-energy figure with it (energy/report.h).
#pragma once

#include <string>
#include <vector>

namespace joule::energy {

struct PlotSeries {
  std::string label;      // legend text
  std::vector<double> x;  // same length as y; non-finite points are dropped
  std::vector<double> y;
  bool line = true;       // join the points by a polyline
  bool points = true;     // a circle per point (up to 80 points)
  bool dashed = false;
  std::string css_class;  // class attribute of its polyline (e.g. "fit"); "" = none
  std::string color;      // "" = the palette's colour for its index
};

// An annotation in data coordinates; it widens the axis ranges to stay in view.
struct PlotMarker {
  enum class Kind { vertical, point };
  Kind kind = Kind::vertical;  // vertical: a dashed line at x across the plot; point: a diamond at (x, y)
  double x = 0;
  double y = 0;                // point only
  std::string label;           // vertical: written upward beside the line; point: right of the diamond
  std::string color = "#555";
  std::string css_class;       // class attribute of its group; "" = none
};

struct PlotPanel {
  std::string title;
  std::string x_label;
  std::string y_label;
  std::vector<PlotSeries> series;
  std::vector<PlotMarker> markers;  // drawn over the series
  bool y_from_zero = false;  // include 0 in the y range (power, energy); else fit the data
  bool x_from_zero = false;
  std::string empty_text = "no data";  // shown in the panel when no series has a point
};

struct PlotFigure {
  std::string title;
  std::string subtitle;  // one smaller line under the title; may be empty
  std::vector<PlotPanel> panels;
  int width = 900;          // pixels
  int panel_height = 330;   // pixels per panel, axes and labels included
};

// A standalone SVG document (starts with "<svg", ends with "</svg>\n").
std::string render_svg(const PlotFigure& figure);

// Text escaped for XML character data and attribute values (& < > " ').
std::string xml_escape(const std::string& text);

// Tick positions covering [lo, hi] with about `target` steps of 1, 2 or 5 × 10^k; the first and last
// tick enclose the range. Returns at least two ticks, also for lo == hi.
std::vector<double> nice_ticks(double lo, double hi, int target = 5);

}  // namespace joule::energy
