// A report page as a list of blocks, written out as Markdown (report.md) and as HTML (index.html)
// from the same blocks, so the two never disagree. Text is plain (see summary_model's `plain`) with
// `code spans` the only markup; the renderers escape everything else.
#pragma once

#include <string>
#include <vector>

namespace gradspec::reports {

struct block {
  enum kind_t { heading, paragraph, bullets, table, image } kind = paragraph;
  int level = 2;                          // heading
  std::string text;                       // heading, paragraph; image: the alt text
  std::string file;                       // image: a file next to the page (an SVG)
  std::vector<std::string> items;         // bullets; table: the header cells
  std::vector<std::vector<std::string>> rows; // table
  std::vector<bool> numeric;              // table: right-aligned columns
};

struct document {
  std::string title;
  std::vector<block> blocks;
  void add_heading(int level, std::string text);
  void add_paragraph(std::string text);
  void add_bullets(std::vector<std::string> items);
  void add_table(std::vector<std::string> header, std::vector<std::vector<std::string>> rows, std::vector<bool> numeric = {});
  void add_image(std::string file, std::string alt);
};

std::string render_markdown(const document& d);
std::string render_html(const document& d);

} // namespace gradspec::reports
