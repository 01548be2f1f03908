// JSON (nlohmann::ordered_json, so keys keep the order written here) and CSV writers; see
// report_files.hpp.
#include "reports/report_files.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace vmm_pmr::bench {
namespace {

using json = nlohmann::ordered_json;

// null for what is not a finite number; a whole number (a byte count, a count) as an
// integer, so that it reads back as one.
json json_number(double value) {
  constexpr double exact_integers = 9007199254740992.0;  // 2^53
  if (!std::isfinite(value)) return nullptr;
  if (value == std::floor(value) && std::fabs(value) <= exact_integers) {
    return static_cast<std::int64_t>(value);
  }
  return value;
}

json json_numbers(const std::vector<double>& values) {
  json array = json::array();
  for (const double value : values) array.push_back(json_number(value));
  return array;
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

json row_json(const result_row& row) {
  json out = {{"method", row.method}, {"label", row.label}};
  if (row.size_bytes) out["size_bytes"] = *row.size_bytes;
  if (row.threads) out["threads"] = *row.threads;
  out["median"] = json_number(row.time.median);
  out["p10"] = json_number(row.time.p10);
  out["p90"] = json_number(row.time.p90);
  out["min"] = json_number(row.time.min);
  out["max"] = json_number(row.time.max);
  out["samples"] = row.time.samples;
  out["operations_per_sample"] = row.operations_per_sample;
  if (row.ratio) out["ratio"] = json_number(*row.ratio);
  for (const metric& m : row.metrics) out[m.key] = json_number(m.value);
  return out;
}

json series_json(const sampled_series& series) {
  json lines = json::array();
  for (const sampled_line& line : series.lines) {
    lines.push_back({{"method", line.method}, {"label", line.label}, {"y", json_numbers(line.y)}});
  }
  return {{"name", series.name},       {"title", series.title},       {"x_label", series.x_label},
          {"y_label", series.y_label}, {"x", json_numbers(series.x)}, {"lines", lines}};
}

json suite_json(const suite_result& suite) {
  json parameters = json::object();
  for (const auto& [name, value] : suite.parameters) parameters[name] = value;
  json rows = json::array();
  for (const result_row& row : suite.rows) rows.push_back(row_json(row));
  json out = {{"name", suite.suite},
              {"title", suite.title},
              {"unit", suite.unit},
              {"per", suite.per},
              {"baseline", {{"method", suite.baseline_method}, {"label", suite.baseline_label}}},
              {"parameters", parameters},
              {"rows", rows},
              {"notes", suite.notes}};
  if (!suite.series.empty()) {
    out["series"] = json::array();
    for (const sampled_series& series : suite.series) out["series"].push_back(series_json(series));
  }
  return out;
}

json sampling_json(const sampling_plan& plan) {
  return {{"warmup", plan.warmup}, {"repetitions", plan.repetitions}};
}

json settings_json(const run_settings& settings) {
  json latency = {{"sizes_bytes", settings.latency.sizes}};
  latency.update(sampling_json(settings.latency.sampling));
  latency["min_sample_time_ns"] = settings.latency.sampling.min_sample_time.count();
  json churn = {{"operations", settings.churn.operations},
                {"slots", settings.churn.slots},
                {"seed", settings.churn.seed},
                {"smallest_bytes", settings.churn.smallest},
                {"largest_bytes", settings.churn.largest}};
  churn.update(sampling_json(settings.churn.sampling));
  json growth = {{"initial_bytes", settings.growth.initial_size},
                 {"final_sizes_bytes", settings.growth.final_sizes}};
  growth.update(sampling_json(settings.growth.sampling));
  json streams = {{"streams", settings.streams.streams},
                  {"sizes_bytes", settings.streams.sizes},
                  {"pairs_per_operation", settings.streams.pairs_per_operation},
                  {"kernel_ns", settings.streams.kernel_nanoseconds}};
  streams.update(sampling_json(settings.streams.sampling));
  json threads = {{"thread_counts", settings.threads.thread_counts},
                  {"sizes_bytes", settings.threads.sizes},
                  {"pairs_per_operation", settings.threads.pairs_per_operation}};
  threads.update(sampling_json(settings.threads.sampling));
  json replay = {{"traces", settings.replay.traces}};
  replay.update(sampling_json(settings.replay.sampling));
  return {{"quick", settings.quick}, {"latency", latency}, {"churn", churn},  {"growth", growth},
          {"streams", streams},      {"threads", threads}, {"replay", replay}};
}

}  // namespace

void write_json_report(std::ostream& out, const environment& facts, const run_settings& settings,
                       const std::vector<suite_result>& suites) {
  const json environment = {{"vmm_pmr_version", facts.tool_version},
                            {"date", facts.date},
                            {"command", facts.command_line},
                            {"backend", facts.backend},
                            {"backend_reason", facts.backend_reason},
                            {"device", facts.device},
                            {"device_memory_bytes", facts.device_memory},
                            {"granularity_bytes", facts.granularity},
                            {"driver", facts.driver},
                            {"runtime", facts.runtime},
                            {"cpu", facts.cpu},
                            {"host_memory_bytes", facts.host_memory},
                            {"build_type", facts.build_type},
                            {"compiler", facts.compiler},
                            {"assertions", facts.assertions},
                            {"warnings", facts.warnings}};
  json report = {{"tool", "vmm_pmr_bench"},
                 {"environment", environment},
                 {"settings", settings_json(settings)},
                 {"suites", json::array()}};
  for (const suite_result& suite : suites) report["suites"].push_back(suite_json(suite));
  // Text the bench did not write (a device name, the command line) may not be UTF-8:
  // replaced rather than thrown on.
  out << report.dump(2, ' ', false, json::error_handler_t::replace) << '\n';
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
  out << "suite,backend,device,method,label,size_bytes,threads,unit,per,median,p10,p90,min,max,"
         "samples,operations_per_sample,ratio";
  for (const std::string& key : metric_keys) out << ',' << key;
  out << '\n';
  for (const suite_result& suite : suites) {
    for (const result_row& row : suite.rows) {
      out << csv_field(suite.suite) << ',' << csv_field(facts.backend) << ','
          << csv_field(facts.device) << ',' << csv_field(row.method) << ',' << csv_field(row.label)
          << ',' << (row.size_bytes ? std::to_string(*row.size_bytes) : "") << ','
          << (row.threads ? std::to_string(*row.threads) : "") << ',' << csv_field(suite.unit)
          << ',' << csv_field(suite.per) << ',' << csv_number(row.time.median) << ','
          << csv_number(row.time.p10) << ',' << csv_number(row.time.p90) << ','
          << csv_number(row.time.min) << ',' << csv_number(row.time.max) << ',' << row.time.samples
          << ',' << row.operations_per_sample << ',' << (row.ratio ? csv_number(*row.ratio) : "");
      for (const std::string& key : metric_keys) {
        const metric* value = row.find_metric(key);
        out << ',' << (value ? csv_number(value->value) : "");
      }
      out << '\n';
    }
  }
}

}  // namespace vmm_pmr::bench
