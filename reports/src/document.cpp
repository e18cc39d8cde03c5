#include "document.hpp"

namespace gradspec::reports {

void document::add_heading(int level, std::string text) {
  block b;
  b.kind = block::heading;
  b.level = level;
  b.text = std::move(text);
  blocks.push_back(std::move(b));
}

void document::add_paragraph(std::string text) {
  block b;
  b.kind = block::paragraph;
  b.text = std::move(text);
  blocks.push_back(std::move(b));
}

void document::add_bullets(std::vector<std::string> items) {
  block b;
  b.kind = block::bullets;
  b.items = std::move(items);
  blocks.push_back(std::move(b));
}

void document::add_table(std::vector<std::string> header, std::vector<std::vector<std::string>> rows, std::vector<bool> numeric) {
  block b;
  b.kind = block::table;
  b.items = std::move(header);
  b.rows = std::move(rows);
  b.numeric = std::move(numeric);
  blocks.push_back(std::move(b));
}

void document::add_image(std::string file, std::string alt) {
  block b;
  b.kind = block::image;
  b.file = std::move(file);
  b.text = std::move(alt);
  blocks.push_back(std::move(b));
}

namespace {

// Markdown table cells: pipes escaped (text is already one line).
std::string md_cell(const std::string& s) {
  std::string out;
  for (char ch : s) out += ch == '|' ? std::string("\\|") : std::string(1, ch);
  return out;
}

std::string html_escape(const std::string& s) {
  std::string out;
  for (char ch : s) switch (ch) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += ch;
    }
  return out;
}

// Escaped text with `code spans` as <code>; an unpaired backtick stays a backtick.
std::string html_text(const std::string& s) {
  std::string out;
  std::size_t pos = 0;
  while (pos < s.size()) {
    const std::size_t open = s.find('`', pos);
    const std::size_t close = open == std::string::npos ? std::string::npos : s.find('`', open + 1);
    if (close == std::string::npos) {
      out += html_escape(s.substr(pos));
      break;
    }
    out += html_escape(s.substr(pos, open - pos)) + "<code>" + html_escape(s.substr(open + 1, close - open - 1)) + "</code>";
    pos = close + 1;
  }
  return out;
}

} // namespace

std::string render_markdown(const document& d) {
  std::string md = "# " + d.title + "\n";
  for (const auto& b : d.blocks) {
    md += "\n";
    switch (b.kind) {
      case block::heading: md += std::string(static_cast<std::size_t>(b.level), '#') + " " + b.text + "\n"; break;
      case block::paragraph: md += b.text + "\n"; break;
      case block::bullets:
        for (const auto& item : b.items) md += "- " + item + "\n";
        break;
      case block::image: md += "![" + b.text + "](" + b.file + ")\n"; break;
      case block::table: {
        md += "|";
        for (const auto& h : b.items) md += " " + md_cell(h) + " |";
        md += "\n|";
        for (std::size_t k = 0; k < b.items.size(); ++k) md += k < b.numeric.size() && b.numeric[k] ? "---:|" : "---|";
        md += "\n";
        for (const auto& row : b.rows) {
          md += "|";
          for (const auto& cell : row) md += " " + md_cell(cell) + " |";
          md += "\n";
        }
        break;
      }
    }
  }
  return md;
}

std::string render_html(const document& d) {
  std::string h = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>" + html_escape(d.title) + "</title>\n";
  h += "<style>\nbody{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;line-height:1.4}\n"
       "table{border-collapse:collapse;margin:1em 0;font-size:90%}\nth,td{border:1px solid #bbb;padding:2px 6px}\n"
       "th{background:#eee}\ntd.n{text-align:right;font-variant-numeric:tabular-nums}\nimg{max-width:100%}\n"
       "code{background:#f4f4f4;padding:0 2px}\n</style>\n</head>\n<body>\n<h1>" + html_text(d.title) + "</h1>\n";
  for (const auto& b : d.blocks) {
    switch (b.kind) {
      case block::heading: {
        const std::string tag = "h" + std::to_string(b.level);
        h += "<" + tag + ">" + html_text(b.text) + "</" + tag + ">\n";
        break;
      }
      case block::paragraph: h += "<p>" + html_text(b.text) + "</p>\n"; break;
      case block::bullets:
        h += "<ul>\n";
        for (const auto& item : b.items) h += "<li>" + html_text(item) + "</li>\n";
        h += "</ul>\n";
        break;
      case block::image: h += "<p><img src=\"" + html_escape(b.file) + "\" alt=\"" + html_escape(b.text) + "\"></p>\n"; break;
      case block::table: {
        h += "<table>\n<tr>";
        for (const auto& c : b.items) h += "<th>" + html_text(c) + "</th>";
        h += "</tr>\n";
        for (const auto& row : b.rows) {
          h += "<tr>";
          for (std::size_t k = 0; k < row.size(); ++k)
            h += (k < b.numeric.size() && b.numeric[k] ? "<td class=\"n\">" : "<td>") + html_text(row[k]) + "</td>";
          h += "</tr>\n";
        }
        h += "</table>\n";
        break;
      }
    }
  }
  return h + "</body>\n</html>\n";
}

} // namespace gradspec::reports
