// BatchLoader (see batch_loader.h). Threading: one worker thread, at most one job at a time. The
// main thread only touches order_ and the slot being filled while the worker is idle; the mutex
// hand-off orders every such access.
#include "core/batch_loader.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <utility>

namespace joule {

BatchLoader::BatchLoader(const Dataset& data, int64_t batch_size, uint64_t seed, bool shuffle, bool drop_last,
                         float mean, float std_dev, bool prefetch)
    : data_(data),
      batch_size_(batch_size),
      seed_(seed),
      shuffle_(shuffle),
      drop_last_(drop_last),
      mean_(mean),
      std_dev_(std_dev),
      prefetch_(prefetch) {
  JOULE_CHECK(data_.images.defined() && data_.labels.defined(), "BatchLoader: the dataset is not loaded");
  JOULE_CHECK(batch_size >= 1, "BatchLoader: batch_size must be >= 1, got ", batch_size);
  JOULE_CHECK(!drop_last || batch_size <= data_.size(), "BatchLoader: batch_size ", batch_size,
              " exceeds the dataset's ", data_.size(), " samples, so dropping the incomplete last batch leaves none");
  JOULE_CHECK(std::isfinite(mean), "BatchLoader: mean must be finite, got ", mean);
  JOULE_CHECK(std::isfinite(std_dev) && std_dev > 0.0f, "BatchLoader: std_dev must be positive, got ", std_dev);
  if (prefetch_) worker_ = std::thread([this] { worker_loop(); });
}

BatchLoader::~BatchLoader() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  if (worker_.joinable()) worker_.join();
}

int64_t BatchLoader::batches_in_epoch() const {
  const auto n = static_cast<int64_t>(order_.size());
  return drop_last_ ? n / batch_size_ : (n + batch_size_ - 1) / batch_size_;
}

void BatchLoader::start_epoch(int64_t epoch) {
  JOULE_CHECK(epoch >= 0, "BatchLoader: epoch must be >= 0, got ", epoch);
  std::vector<int64_t> order;
  if (shuffle_) {
    order = epoch_permutation(data_.size(), seed_, epoch);
  } else {
    order.resize(static_cast<size_t>(data_.size()));
    std::iota(order.begin(), order.end(), int64_t{0});
  }
  start_epoch_with_order(std::move(order));
}

void BatchLoader::start_epoch_with_order(std::vector<int64_t> order) {
  // An error from a batch of the abandoned epoch that was never handed out is dropped with it.
  if (prefetch_) wait_idle();
  order_ = std::move(order);
  next_batch_ = 0;
  ready_slot_ = -1;
  if (prefetch_ && batches_in_epoch() > 0) {
    ready_slot_ = 0;
    submit(0, 0);
  }
}

bool BatchLoader::next(Batch& out) {
  const int64_t total = batches_in_epoch();
  if (!prefetch_) {
    if (next_batch_ >= total) return false;
    try {
      prepare(0, next_batch_);
    } catch (...) {
      next_batch_ = total;
      throw;
    }
    out = ready_[0];
    ++next_batch_;
    return true;
  }
  if (ready_slot_ < 0) return false;
  if (std::exception_ptr error = wait_idle()) {
    ready_slot_ = -1;
    next_batch_ = total;
    std::rethrow_exception(error);
  }
  const int slot = ready_slot_;
  out = ready_[slot];
  ++next_batch_;
  if (next_batch_ < total) {
    ready_slot_ = 1 - slot;
    submit(ready_slot_, next_batch_);
  } else {
    ready_slot_ = -1;
  }
  return true;
}

void BatchLoader::prepare(int slot, int64_t batch) {
  const int64_t begin = batch * batch_size_;
  const int64_t end = std::min(begin + batch_size_, static_cast<int64_t>(order_.size()));
  Batch& buffer = buffers_[slot];
  ensure_tensor(buffer.images, {batch_size_, 1, data_.height, data_.width}, DType::f32, Device::cpu());
  ensure_tensor(buffer.labels, {batch_size_}, DType::i32, Device::cpu());
  Batch& ready = ready_[slot];
  ready.images = buffer.images.rows(0, end - begin);
  ready.labels = buffer.labels.rows(0, end - begin);
  ready.index = batch;
  gather_batch(ready.images, ready.labels, data_, order_.data() + begin, end - begin, mean_, std_dev_);
}

void BatchLoader::submit(int slot, int64_t batch) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    JOULE_ASSERT(!has_job_, "BatchLoader: a job is already in flight");
    has_job_ = true;
    job_slot_ = slot;
    job_batch_ = batch;
  }
  wake_.notify_all();
}

std::exception_ptr BatchLoader::wait_idle() {
  std::unique_lock<std::mutex> lock(mutex_);
  wake_.wait(lock, [this] { return !has_job_; });
  return std::exchange(error_, nullptr);
}

void BatchLoader::worker_loop() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stop_ || has_job_; });
    if (stop_) return;
    const int slot = job_slot_;
    const int64_t batch = job_batch_;
    lock.unlock();
    std::exception_ptr error;
    try {
      prepare(slot, batch);
    } catch (...) {
      error = std::current_exception();
    }
    lock.lock();
    error_ = error;
    has_job_ = false;
    wake_.notify_all();
  }
}

}  // namespace joule
