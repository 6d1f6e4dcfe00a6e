// Checkpoints: writing one collectively, finding and verifying the newest complete one, loading it
// (format: core/proto/checkpoint.proto; README "Checkpoints and resume").
//
// Writing, into checkpoints/.step-NNNNNNNN.tmp/: every rank writes its RankCheckpoint, rank 0 the
// tensors and then the manifest (which lists every file with its size and CRC-32, gathered from the
// ranks); each file goes to a temporary name, is fsynced and renamed. After an agreement that every
// rank succeeded, rank 0 writes DONE and renames the folder to step-NNNNNNNN (so a folder of that
// name is always complete, whenever the process dies), then removes the checkpoints beyond `keep`.
// A failure anywhere (a full disk) removes the hidden folder and returns the error to every rank,
// which goes on; a hidden folder left by a killed process is removed by the next write.
//
// Loading: rank 0 reads the manifest and the tensors and checks them; every rank checks its own
// rank file (ranks need not share a file system); the tensors reach the other ranks by broadcast.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/proto/checkpoint.pb.h"
#include "distributed/communicator.h"

namespace joule {

struct CheckpointTensor {
  std::string file;             // "parameters.f32", "optimizer-momentum.f32"
  const float* data = nullptr;  // host memory (rank 0)
  int64_t elements = 0;
};

// What a rank contributes. manifest and tensors matter on rank 0 only (files and rank_energy_j are
// filled in here).
struct CheckpointContent {
  pb::CheckpointManifest manifest;
  std::vector<CheckpointTensor> tensors;
  std::vector<std::pair<std::string, std::string>> blobs;  // rank 0: other files (name → bytes)
  pb::RankCheckpoint rank;
  std::function<void()> after_rank_file;  // tests: called once this rank's file is written
};

struct CheckpointWritten {
  std::string dir;    // "checkpoints/step-NNNNNNNN", relative to the run directory
  std::string error;  // "" = complete (DONE written); else why not, the same on every rank
};

// Collective.
CheckpointWritten write_checkpoint(Communicator& comm, const std::string& run_dir, const CheckpointContent& content,
                                   int keep);

struct LoadedCheckpoint {
  std::string dir;  // as given, or "checkpoints/step-NNNNNNNN" under the run directory
  pb::CheckpointManifest manifest;
  pb::RankCheckpoint rank;  // this rank's; empty (rank = this rank) when the checkpoint had fewer ranks
  std::vector<std::pair<std::string, std::vector<float>>> tensors;  // file → values, on every rank
  std::vector<std::pair<std::string, std::string>> blobs;           // rank 0's other files, on every rank
  const std::vector<float>* tensor(const std::string& file) const;  // null when absent
  const std::string* blob(const std::string& file) const;           // null when absent
};

std::string checkpoint_dir_name(uint64_t step);  // "checkpoints/step-NNNNNNNN"

// Collective: the newest checkpoint under run_dir/checkpoints that is complete and verifies; each
// one skipped on the way is described in `notes` (rank 0's view). nullopt: none.
std::optional<LoadedCheckpoint> load_newest_checkpoint(Communicator& comm, const std::string& run_dir,
                                                       std::vector<std::string>* notes);
// Collective: the checkpoint in folder `dir` (a path); anything wrong with it is invalid input
// (exit 2) naming the file.
LoadedCheckpoint load_checkpoint(Communicator& comm, const std::string& dir);

}  // namespace joule
