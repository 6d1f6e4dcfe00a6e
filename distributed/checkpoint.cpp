#include "distributed/checkpoint.h"

#include <google/protobuf/text_format.h>

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "core/error.h"
#include "core/file_util.h"

namespace joule {
namespace {

namespace fs = std::filesystem;

constexpr uint32_t kFormatVersion = 1;
constexpr const char* kManifest = "manifest.pbtxt";
constexpr const char* kDone = "DONE";
constexpr const char* kPrefix = "step-";

std::string rank_file_name(int rank) {
  char name[32];
  std::snprintf(name, sizeof name, "rank-%05d.pb", rank);
  return name;
}

// rank 0's `text` on every rank (one all-gather; the others send nothing)
std::string from_rank0(Communicator& comm, const std::string& text) {
  return comm.all_gather(comm.rank() == 0 ? text : std::string())[0];
}

// "step-NNNNNNNN" → N; -1 for any other name
int64_t step_of(const std::string& name) {
  const std::string digits = name.rfind(kPrefix, 0) == 0 ? name.substr(std::strlen(kPrefix)) : "";
  if (digits.empty() || digits.size() > 18 || digits.find_first_not_of("0123456789") != std::string::npos) return -1;
  return std::stoll(digits);
}

// The step folders under run_dir/checkpoints, newest first (this rank's file system).
std::vector<int64_t> listed_steps(const std::string& run_dir) {
  std::vector<int64_t> steps;
  std::error_code error;
  const fs::path root = fs::path(run_dir) / "checkpoints";
  for (fs::directory_iterator it(root, error), end; !error && it != end; it.increment(error)) {
    const int64_t step = step_of(it->path().filename().string());
    if (step >= 0 && it->is_directory(error)) steps.push_back(step);
  }
  std::sort(steps.rbegin(), steps.rend());
  return steps;
}

// Reads `entry` from `dir` and checks its size and CRC; "" when it matches, else what is wrong.
std::string verify_file(const fs::path& dir, const pb::CheckpointFile& entry, std::string* bytes) {
  const fs::path path = dir / entry.name();
  try {
    *bytes = read_text_file(path.string(), "checkpoint file", static_cast<size_t>(entry.bytes()));
  } catch (const std::exception& e) {
    return e.what();
  }
  if (bytes->size() != entry.bytes())
    return path.string() + ": " + std::to_string(bytes->size()) + " bytes, the manifest says " +
           std::to_string(entry.bytes()) + " (truncated?)";
  if (crc32_of(bytes->data(), bytes->size()) != entry.crc32())
    return path.string() + ": its CRC-32 differs from the manifest's (the file is corrupt)";
  return "";
}

// Rank 0: the manifest of `dir` and the tensors it names, checked; "" when sound.
std::string verify_lead(const fs::path& dir, pb::CheckpointManifest* manifest,
                        std::vector<std::pair<std::string, std::string>>* tensors,
                        std::vector<std::pair<std::string, std::string>>* blobs) {
  if (!fs::exists(dir / kDone)) return (dir / kDone).string() + " is missing (an incomplete checkpoint)";
  std::string text;
  try {
    text = read_text_file((dir / kManifest).string(), "checkpoint manifest", size_t{64} << 20);
  } catch (const std::exception& e) {
    return e.what();
  }
  if (!google::protobuf::TextFormat::ParseFromString(text, manifest))
    return (dir / kManifest).string() + ": does not parse as a joule.pb.CheckpointManifest (corrupt)";
  if (manifest->format_version() != kFormatVersion)
    return (dir / kManifest).string() + ": format_version " + std::to_string(manifest->format_version()) +
           ", expected " + std::to_string(kFormatVersion);
  if (manifest->world_size() == 0 || manifest->rank_energy_j_size() != static_cast<int>(manifest->world_size()))
    return (dir / kManifest).string() + ": world_size and rank_energy_j disagree (corrupt)";
  bool has_parameters = false;
  for (const pb::CheckpointFile& entry : manifest->files()) {
    if (entry.name().empty() || entry.name().find('/') != std::string::npos || entry.name()[0] == '.')
      return (dir / kManifest).string() + ": file name \"" + entry.name() + "\" is not a plain name (corrupt)";
    if (entry.rank() != 0 || entry.name() == rank_file_name(0)) continue;
    const bool tensor = entry.name().size() > 4 && entry.name().compare(entry.name().size() - 4, 4, ".f32") == 0;
    if (tensor && entry.bytes() != manifest->parameter_elements() * sizeof(float))
      return (dir / kManifest).string() + ": " + entry.name() + " has " + std::to_string(entry.bytes()) +
             " bytes, expected 4 × parameter_elements = " + std::to_string(manifest->parameter_elements() * 4);
    std::string bytes;
    std::string problem = verify_file(dir, entry, &bytes);
    if (!problem.empty()) return problem;
    if (tensor) {
      has_parameters = has_parameters || entry.name() == "parameters.f32";
      tensors->emplace_back(entry.name(), std::move(bytes));
    } else {
      blobs->emplace_back(entry.name(), std::move(bytes));
    }
  }
  if (!has_parameters) return (dir / kManifest).string() + ": lists no parameters.f32 (corrupt)";
  return "";
}

// This rank's RankCheckpoint in `dir` per the manifest; "" when sound or the rank is new.
std::string verify_rank(const fs::path& dir, const pb::CheckpointManifest& manifest, int rank,
                        pb::RankCheckpoint* out) {
  out->set_rank(static_cast<uint32_t>(rank));
  if (rank >= static_cast<int>(manifest.world_size())) return "";  // a rank the checkpoint did not have
  for (const pb::CheckpointFile& entry : manifest.files()) {
    if (entry.rank() != rank || entry.name() != rank_file_name(rank)) continue;
    std::string bytes;
    std::string problem = verify_file(dir, entry, &bytes);
    if (!problem.empty()) return problem;
    if (!out->ParseFromString(bytes) || static_cast<int>(out->rank()) != rank)
      return (dir / entry.name()).string() + ": not a RankCheckpoint of rank " + std::to_string(rank) + " (corrupt)";
    return "";
  }
  return (dir / kManifest).string() + ": lists no " + rank_file_name(rank) + " (corrupt)";
}

// Collective: verifies and loads `dir`; "" and *out filled, or what is wrong (rank 0's text first).
std::string try_load(Communicator& comm, const fs::path& dir, LoadedCheckpoint* out) {
  std::vector<std::pair<std::string, std::string>> tensors, blobs;
  std::string problem;
  if (comm.rank() == 0) problem = verify_lead(dir, &out->manifest, &tensors, &blobs);
  std::string manifest_text;
  if (comm.rank() == 0 && problem.empty()) out->manifest.SerializeToString(&manifest_text);
  const std::string shared = from_rank0(comm, problem.empty() ? "M" + manifest_text : "E" + problem);
  if (shared[0] == 'E') return shared.substr(1);
  if (comm.rank() != 0)
    JOULE_ASSERT(out->manifest.ParseFromString(shared.substr(1)), "the manifest from rank 0 does not parse");
  const std::string mine = verify_rank(dir, out->manifest, comm.rank(), &out->rank);
  for (const std::string& other : comm.all_gather(mine))
    if (!other.empty()) return other;
  for (size_t i = 0, n = std::stoul(from_rank0(comm, std::to_string(blobs.size()))); i < n; ++i) {
    const std::string name = from_rank0(comm, comm.rank() == 0 ? blobs[i].first : "");
    out->blobs.emplace_back(name, from_rank0(comm, comm.rank() == 0 ? blobs[i].second : ""));
  }
  // the tensors, from rank 0 to every rank, in the manifest's order
  for (const pb::CheckpointFile& entry : out->manifest.files()) {
    if (entry.rank() != 0 || entry.name().size() < 5 || entry.name().compare(entry.name().size() - 4, 4, ".f32") != 0)
      continue;
    std::vector<float> values(entry.bytes() / sizeof(float));
    if (comm.rank() == 0) {
      const auto it =
          std::find_if(tensors.begin(), tensors.end(), [&](const auto& t) { return t.first == entry.name(); });
      JOULE_ASSERT(it != tensors.end(), "tensor ", entry.name(), " not read");
      std::memcpy(values.data(), it->second.data(), entry.bytes());
    }
    comm.broadcast(values.data(), static_cast<int64_t>(entry.bytes()), 0);
    out->tensors.emplace_back(entry.name(), std::move(values));
  }
  return "";
}

}  // namespace

const std::vector<float>* LoadedCheckpoint::tensor(const std::string& file) const {
  for (const auto& [name, values] : tensors)
    if (name == file) return &values;
  return nullptr;
}

const std::string* LoadedCheckpoint::blob(const std::string& file) const {
  for (const auto& [name, bytes] : blobs)
    if (name == file) return &bytes;
  return nullptr;
}

std::string checkpoint_dir_name(uint64_t step) {
  char name[48];
  std::snprintf(name, sizeof name, "checkpoints/%s%08llu", kPrefix, static_cast<unsigned long long>(step));
  return name;
}

CheckpointWritten write_checkpoint(Communicator& comm, const std::string& run_dir, const CheckpointContent& content,
                                   int keep) {
  CheckpointWritten written;
  written.dir = checkpoint_dir_name(content.manifest.step());
  const fs::path root = fs::path(run_dir) / "checkpoints";
  const fs::path final_dir = fs::path(run_dir) / written.dir;
  // written under a hidden name, renamed once complete: a folder named step-N is always whole
  const fs::path dir = root / ("." + final_dir.filename().string() + ".tmp");
  std::error_code ignored;
  // 1. every rank: its own file
  std::string mine;
  try {
    fs::create_directories(dir);
    pb::CheckpointFile entry;
    const std::string bytes = content.rank.SerializeAsString();
    entry.set_name(rank_file_name(comm.rank()));
    entry.set_bytes(bytes.size());
    entry.set_rank(comm.rank());
    entry.set_crc32(write_file_durable((dir / entry.name()).string(), bytes));
    if (content.after_rank_file) content.after_rank_file();
    const double energy = content.rank.energy_j();
    mine = "F" + std::string(reinterpret_cast<const char*>(&energy), sizeof energy) + entry.SerializeAsString();
  } catch (const std::exception& e) {
    mine = "E" + std::string("rank ") + std::to_string(comm.rank()) + ": " + e.what();
  }
  const std::vector<std::string> parts = comm.all_gather(mine);
  // 2. rank 0: the tensors, the manifest, DONE, the rename; then which checkpoints stay
  std::string outcome;
  if (comm.rank() == 0) {
    try {
      for (const std::string& part : parts) JOULE_CHECK_IO(part[0] == 'F', part.substr(1));
      pb::CheckpointManifest manifest = content.manifest;
      manifest.set_format_version(kFormatVersion);
      manifest.set_world_size(static_cast<uint32_t>(comm.size()));
      manifest.clear_files();
      manifest.clear_rank_energy_j();
      for (const CheckpointTensor& t : content.tensors) {
        pb::CheckpointFile* entry = manifest.add_files();
        entry->set_name(t.file);
        entry->set_bytes(static_cast<uint64_t>(t.elements) * sizeof(float));
        entry->set_rank(0);
        entry->set_crc32(write_file_durable((dir / t.file).string(), t.data, entry->bytes()));
      }
      for (const auto& [file, bytes] : content.blobs) {
        pb::CheckpointFile* entry = manifest.add_files();
        entry->set_name(file);
        entry->set_bytes(bytes.size());
        entry->set_rank(0);
        entry->set_crc32(write_file_durable((dir / file).string(), bytes));
      }
      for (const std::string& part : parts) {
        double energy = 0;
        std::memcpy(&energy, part.data() + 1, sizeof energy);
        manifest.add_rank_energy_j(energy);
        JOULE_ASSERT(manifest.add_files()->ParseFromString(part.substr(1 + sizeof energy)), "a rank's file entry");
      }
      std::string text;
      google::protobuf::TextFormat::PrintToString(manifest, &text);
      write_file_durable((dir / kManifest).string(), text);
      write_file_durable((dir / kDone).string(), "step " + std::to_string(manifest.step()) + "\n");
      fs::remove_all(final_dir, ignored);  // an earlier checkpoint of this step (a resumed run's)
      fs::rename(dir, final_dir);
      fsync_directory(root.string());
      const std::vector<int64_t> steps = listed_steps(run_dir);
      int64_t oldest_kept = static_cast<int64_t>(manifest.step());
      int complete = 0;
      for (int64_t step : steps) {
        if (complete >= keep) break;
        if (fs::exists(fs::path(run_dir) / checkpoint_dir_name(static_cast<uint64_t>(step)) / kDone)) {
          ++complete;
          oldest_kept = step;
        }
      }
      outcome = "K" + std::to_string(oldest_kept);
    } catch (const std::exception& e) {
      outcome = std::string("E") + e.what();
    }
  }
  outcome = from_rank0(comm, outcome);
  if (outcome[0] == 'E') {  // nothing half-written stays
    written.error = outcome.substr(1);
    fs::remove_all(dir, ignored);
    return written;
  }
  // ranks on a file system of their own rename their part too (on a shared one it is done)
  if (fs::exists(dir, ignored)) {
    fs::remove_all(final_dir, ignored);
    fs::rename(dir, final_dir, ignored);
  }
  // hidden folders of writes a killed process left (every rank is past writing this one: safe on a
  // shared file system too)
  for (fs::directory_iterator it(root, ignored), end; !ignored && it != end; it.increment(ignored))
    if (it->path().filename().string().rfind(".step-", 0) == 0) fs::remove_all(it->path(), ignored);
  const int64_t oldest_kept = std::stoll(outcome.substr(1));
  for (int64_t step : listed_steps(run_dir))  // every rank, in its own file system
    if (step < oldest_kept)
      fs::remove_all(fs::path(run_dir) / checkpoint_dir_name(static_cast<uint64_t>(step)), ignored);
  return written;
}

std::optional<LoadedCheckpoint> load_newest_checkpoint(Communicator& comm, const std::string& run_dir,
                                                       std::vector<std::string>* notes) {
  // rank 0's list, so every rank tries the same folders in the same order
  std::string list;
  for (int64_t step : listed_steps(run_dir)) list += std::to_string(step) + " ";
  list = from_rank0(comm, list);
  size_t begin = 0;
  while (begin < list.size()) {
    const size_t end = list.find(' ', begin);
    const uint64_t step = std::stoull(list.substr(begin, end - begin));
    begin = end + 1;
    LoadedCheckpoint loaded;
    loaded.dir = checkpoint_dir_name(step);
    const std::string problem = try_load(comm, fs::path(run_dir) / loaded.dir, &loaded);
    if (problem.empty()) return loaded;
    notes->push_back(loaded.dir + " skipped: " + problem);
  }
  return std::nullopt;
}

LoadedCheckpoint load_checkpoint(Communicator& comm, const std::string& dir) {
  LoadedCheckpoint loaded;
  loaded.dir = dir;
  const std::string problem = try_load(comm, fs::path(dir), &loaded);
  if (!problem.empty()) JOULE_FAIL_INPUT("--resume ", dir, ": ", problem);
  return loaded;
}

}  // namespace joule
