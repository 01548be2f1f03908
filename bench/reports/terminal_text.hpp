// Text for a terminal: display widths, wrapped paragraphs and aligned columns.
//
// Widths count code points, not bytes ("µs" is two columns wide, not three), so tables
// and notes with units and symbols line up. What the bench prints for people fits a
// terminal 100 columns wide, and its prose one of 88, so a report pasted into an issue or
// read in a terminal needs no scrolling sideways.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace vmm_pmr::bench {

inline constexpr std::size_t prose_width = 88;   // notes, help
inline constexpr std::size_t table_width = 100;  // a wider table is split (report_table.cpp)

std::size_t display_width(std::string_view text);

// `text` broken into lines of at most `width` columns (a longer word gets a line of its
// own), the first indented by `indent` spaces and the others by `hanging_indent`. A unit
// stays with its number: "2 MiB" never breaks across lines.
std::string wrapped(std::string_view text, std::size_t width, std::size_t indent,
                    std::size_t hanging_indent);

struct text_column {
  std::string heading;
  bool right_aligned = true;  // numbers right, text left
  std::vector<std::string> cells;
};

// The heading line and one line per row, each column as wide as its widest cell, two
// spaces between columns and three before the first; no trailing spaces.
std::vector<std::string> aligned_lines(const std::vector<text_column>& columns);

}  // namespace vmm_pmr::bench
