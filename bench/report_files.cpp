// JSON and CSV writers; see report_files.hpp.
#include "report_files.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <string>

namespace vmm_pmr::bench {
namespace {

std::string json_string(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

// fmt's "{}" is the shortest text that reads back as the same double, and valid JSON.
std::string json_number(double value) {
  return std::isfinite(value) ? fmt::format("{}", value) : "null";
}

std::string json_sizes(const std::vector<std::size_t>& sizes) {
  std::string out = "[";
  for (std::size_t i = 0; i < sizes.size(); ++i)
    out += fmt::format("{}{}", i ? ", " : "", sizes[i]);
  return out + "]";
}

std::string csv_field(std::string_view text) {
  if (text.find_first_of(",\"\n") == std::string_view::npos) return std::string(text);
  std::string out = "\"";
  for (char c : text) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string csv_number(double value) {
  return std::isfinite(value) ? fmt::format("{}", value) : "";
}

void write_json_row(std::ostream& out, const result_row& row, bool last) {
  out << "        {\"method\": " << json_string(row.method)
      << ", \"label\": " << json_string(row.label);
  if (row.size_bytes) out << ", \"size_bytes\": " << *row.size_bytes;
  out << ", \"median\": " << json_number(row.time.median)
      << ", \"p10\": " << json_number(row.time.p10) << ", \"p90\": " << json_number(row.time.p90)
      << ", \"min\": " << json_number(row.time.min) << ", \"max\": " << json_number(row.time.max)
      << ", \"samples\": " << row.time.samples
      << ", \"operations_per_sample\": " << row.operations_per_sample;
  if (row.ratio) out << ", \"ratio\": " << json_number(*row.ratio);
  for (const metric& m : row.metrics)
    out << ", " << json_string(m.key) << ": " << json_number(m.value);
  out << (last ? "}\n" : "},\n");
}

void write_json_suite(std::ostream& out, const suite_result& suite, bool last) {
  out << "    {\n";
  out << "      \"name\": " << json_string(suite.suite) << ",\n";
  out << "      \"title\": " << json_string(suite.title) << ",\n";
  out << "      \"unit\": " << json_string(suite.unit) << ",\n";
  out << "      \"per\": " << json_string(suite.per) << ",\n";
  out << "      \"baseline\": {\"method\": " << json_string(suite.baseline_method)
      << ", \"label\": " << json_string(suite.baseline_label) << "},\n";
  out << "      \"parameters\": {";
  for (std::size_t i = 0; i < suite.parameters.size(); ++i) {
    out << (i ? ", " : "") << json_string(suite.parameters[i].first) << ": "
        << json_string(suite.parameters[i].second);
  }
  out << "},\n";
  out << "      \"rows\": [\n";
  for (std::size_t i = 0; i < suite.rows.size(); ++i) {
    write_json_row(out, suite.rows[i], i + 1 == suite.rows.size());
  }
  out << "      ],\n";
  out << "      \"notes\": [";
  for (std::size_t i = 0; i < suite.notes.size(); ++i) {
    out << (i ? ", " : "") << json_string(suite.notes[i]);
  }
  out << "]\n";
  out << (last ? "    }\n" : "    },\n");
}

}  // namespace

void write_json_report(std::ostream& out, const environment& facts, const run_settings& settings,
                       const std::vector<suite_result>& suites) {
  out << "{\n";
  out << "  \"tool\": \"vmm_pmr_bench\",\n";
  out << "  \"environment\": {\n";
  out << "    \"vmm_pmr_version\": " << json_string(facts.tool_version) << ",\n";
  out << "    \"date\": " << json_string(facts.date) << ",\n";
  out << "    \"command\": " << json_string(facts.command_line) << ",\n";
  out << "    \"backend\": " << json_string(facts.backend) << ",\n";
  out << "    \"backend_reason\": " << json_string(facts.backend_reason) << ",\n";
  out << "    \"device\": " << json_string(facts.device) << ",\n";
  out << "    \"device_memory_bytes\": " << facts.device_memory << ",\n";
  out << "    \"granularity_bytes\": " << facts.granularity << ",\n";
  out << "    \"driver\": " << json_string(facts.driver) << ",\n";
  out << "    \"runtime\": " << json_string(facts.runtime) << ",\n";
  out << "    \"cpu\": " << json_string(facts.cpu) << ",\n";
  out << "    \"host_memory_bytes\": " << facts.host_memory << ",\n";
  out << "    \"build_type\": " << json_string(facts.build_type) << ",\n";
  out << "    \"compiler\": " << json_string(facts.compiler) << ",\n";
  out << "    \"assertions\": " << (facts.assertions ? "true" : "false") << ",\n";
  out << "    \"warnings\": [";
  for (std::size_t i = 0; i < facts.warnings.size(); ++i) {
    out << (i ? ", " : "") << json_string(facts.warnings[i]);
  }
  out << "]\n";
  out << "  },\n";
  out << "  \"settings\": {\n";
  out << "    \"quick\": " << (settings.quick ? "true" : "false") << ",\n";
  out << "    \"latency\": {\"sizes_bytes\": " << json_sizes(settings.latency.sizes)
      << ", \"warmup\": " << settings.latency.sampling.warmup
      << ", \"repetitions\": " << settings.latency.sampling.repetitions
      << ", \"min_sample_time_ns\": " << settings.latency.sampling.min_sample_time.count()
      << "},\n";
  out << "    \"churn\": {\"operations\": " << settings.churn.operations
      << ", \"slots\": " << settings.churn.slots << ", \"seed\": " << settings.churn.seed
      << ", \"smallest_bytes\": " << settings.churn.smallest
      << ", \"largest_bytes\": " << settings.churn.largest
      << ", \"warmup\": " << settings.churn.sampling.warmup
      << ", \"repetitions\": " << settings.churn.sampling.repetitions << "},\n";
  out << "    \"growth\": {\"initial_bytes\": " << settings.growth.initial_size
      << ", \"final_bytes\": " << settings.growth.final_size
      << ", \"warmup\": " << settings.growth.sampling.warmup
      << ", \"repetitions\": " << settings.growth.sampling.repetitions << "},\n";
  out << "    \"streams\": {\"streams\": " << settings.streams.streams
      << ", \"sizes_bytes\": " << json_sizes(settings.streams.sizes)
      << ", \"pairs_per_operation\": " << settings.streams.pairs_per_operation
      << ", \"kernel_ns\": " << settings.streams.kernel_nanoseconds
      << ", \"warmup\": " << settings.streams.sampling.warmup
      << ", \"repetitions\": " << settings.streams.sampling.repetitions << "}\n";
  out << "  },\n";
  out << "  \"suites\": [\n";
  for (std::size_t i = 0; i < suites.size(); ++i) {
    write_json_suite(out, suites[i], i + 1 == suites.size());
  }
  out << "  ]\n";
  out << "}\n";
}

void write_csv_report(std::ostream& out, const environment& facts,
                      const std::vector<suite_result>& suites) {
  std::vector<std::string> metric_keys;
  for (const suite_result& suite : suites) {
    for (const result_row& row : suite.rows) {
      for (const metric& m : row.metrics) {
        if (std::find(metric_keys.begin(), metric_keys.end(), m.key) == metric_keys.end()) {
          metric_keys.push_back(m.key);
        }
      }
    }
  }
  out << "suite,backend,device,method,label,size_bytes,unit,per,median,p10,p90,min,max,samples,"
         "operations_per_sample,ratio";
  for (const std::string& key : metric_keys) out << ',' << key;
  out << '\n';
  for (const suite_result& suite : suites) {
    for (const result_row& row : suite.rows) {
      out << csv_field(suite.suite) << ',' << csv_field(facts.backend) << ','
          << csv_field(facts.device) << ',' << csv_field(row.method) << ',' << csv_field(row.label)
          << ',' << (row.size_bytes ? std::to_string(*row.size_bytes) : "") << ','
          << csv_field(suite.unit) << ',' << csv_field(suite.per) << ','
          << csv_number(row.time.median) << ',' << csv_number(row.time.p10) << ','
          << csv_number(row.time.p90) << ',' << csv_number(row.time.min) << ','
          << csv_number(row.time.max) << ',' << row.time.samples << ',' << row.operations_per_sample
          << ',' << (row.ratio ? csv_number(*row.ratio) : "");
      for (const std::string& key : metric_keys) {
        const metric* value = row.find_metric(key);
        out << ',' << (value ? csv_number(value->value) : "");
      }
      out << '\n';
    }
  }
}

}  // namespace vmm_pmr::bench
