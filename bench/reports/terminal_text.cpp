// Wrapping and alignment; see terminal_text.hpp.
#include "reports/terminal_text.hpp"

#include <algorithm>
#include <array>

namespace vmm_pmr::bench {
namespace {

// The words of `text`, a unit kept with its number.
std::vector<std::string> words_of(std::string_view text) {
  static constexpr std::array<std::string_view, 8> units = {"B",   "KiB", "MiB", "GiB",
                                                            "TiB", "µs",  "ms",  "ns"};
  std::vector<std::string> words;
  while (!text.empty()) {
    const std::size_t space = text.find(' ');
    const std::string_view word = text.substr(0, space);
    const bool is_unit = std::find(units.begin(), units.end(), word) != units.end();
    if (is_unit && !words.empty()) {
      words.back() += " " + std::string(word);
    } else if (!word.empty()) {
      words.emplace_back(word);
    }
    if (space == std::string_view::npos) break;
    text.remove_prefix(space + 1);
  }
  return words;
}

}  // namespace

std::size_t display_width(std::string_view text) {
  return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;  // not a UTF-8 continuation byte
  }));
}

std::string wrapped(std::string_view text, std::size_t width, std::size_t indent,
                    std::size_t hanging_indent) {
  std::string out(indent, ' ');
  std::size_t column = indent;
  bool line_empty = true;
  for (const std::string& word : words_of(text)) {
    const std::size_t word_width = display_width(word);
    if (!line_empty && column + 1 + word_width > width) {
      out += '\n';
      out.append(hanging_indent, ' ');
      column = hanging_indent;
      line_empty = true;
    }
    if (!line_empty) {
      out += ' ';
      ++column;
    }
    out += word;
    column += word_width;
    line_empty = false;
  }
  return out;
}

std::vector<std::string> aligned_lines(const std::vector<text_column>& columns) {
  std::vector<std::size_t> widths;
  std::size_t rows = 0;
  for (const text_column& column : columns) {
    std::size_t width = display_width(column.heading);
    for (const std::string& cell : column.cells) width = std::max(width, display_width(cell));
    widths.push_back(width);
    rows = std::max(rows, column.cells.size());
  }
  const auto line_of = [&](auto&& cell_of) {
    std::string line = " ";
    for (std::size_t c = 0; c < columns.size(); ++c) {
      const std::string_view cell = cell_of(c);
      const std::string padding(widths[c] - std::min(widths[c], display_width(cell)), ' ');
      line += "  ";
      line += columns[c].right_aligned ? padding + std::string(cell) : std::string(cell) + padding;
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    return line;
  };
  std::vector<std::string> lines;
  lines.push_back(line_of([&](std::size_t c) -> std::string_view { return columns[c].heading; }));
  for (std::size_t r = 0; r < rows; ++r) {
    lines.push_back(line_of([&](std::size_t c) -> std::string_view {
      return r < columns[c].cells.size() ? std::string_view(columns[c].cells[r]) : "";
    }));
  }
  return lines;
}

}  // namespace vmm_pmr::bench
