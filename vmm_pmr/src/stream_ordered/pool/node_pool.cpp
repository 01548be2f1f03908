#include "stream_ordered/pool/node_pool.hpp"

namespace vmm_pmr::detail {

node_pool::~node_pool() {
  for (void* slab : slabs_) upstream_->deallocate(slab, slab_bytes, alignof(std::max_align_t));
}

void* node_pool::do_allocate(std::size_t bytes, std::size_t alignment) {
  if (!pooled(bytes, alignment)) return upstream_->allocate(bytes, alignment);
  const std::size_t size_class = class_of(bytes);
  if (free_[size_class] == nullptr) refill(size_class);
  free_node* const node = free_[size_class];
  free_[size_class] = node->next;
  return node;
}

void node_pool::do_deallocate(void* pointer, std::size_t bytes, std::size_t alignment) {
  if (!pooled(bytes, alignment)) {
    upstream_->deallocate(pointer, bytes, alignment);
    return;
  }
  const std::size_t size_class = class_of(bytes);
  auto* const node = static_cast<free_node*>(pointer);
  node->next = free_[size_class];
  free_[size_class] = node;
}

void node_pool::refill(std::size_t size_class) {
  slabs_.reserve(slabs_.size() + 1);  // so that push_back cannot throw after the allocation
  auto* const slab =
      static_cast<std::byte*>(upstream_->allocate(slab_bytes, alignof(std::max_align_t)));
  slabs_.push_back(slab);
  const std::size_t node_bytes = (size_class + 1) * granule;
  for (std::size_t offset = 0; offset + node_bytes <= slab_bytes; offset += node_bytes) {
    auto* const node = reinterpret_cast<free_node*>(slab + offset);
    node->next = free_[size_class];
    free_[size_class] = node;
  }
}

}  // namespace vmm_pmr::detail
