// Two processes share one VMM allocation. The parent allocates shareable memory, writes
// a question into it and sends it over a Unix socket; the child maps the same memory,
// reads the question and writes its answer next to it; the parent reads the answer.
//
//   share_between_processes         on the host backend (memfd), on any Linux machine
//   share_between_processes cuda    on GPU 0; exit code 77 ("skipped") without one
//
// Exit code 0 when both sides saw what they expected.
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include <vmm_pmr/backend/cuda_backend.hpp>
#include <vmm_pmr/backend/host_backend.hpp>
#include <vmm_pmr/ipc/ipc_channel.hpp>
#include <vmm_pmr/resource/vmm_resource.hpp>

namespace {

constexpr char question[] = "what is shared?";
constexpr char answer[] = "the same physical memory";
constexpr std::size_t answer_offset = 4096;
constexpr int skipped = 77;

vmm_pmr::address at(void* memory, std::size_t offset = 0) {
  return reinterpret_cast<vmm_pmr::address>(memory) + offset;
}

// The child: import, read, write, tell the parent.
int child(int socket, const std::shared_ptr<vmm_pmr::backend>& backend) {
  vmm_pmr::vmm_resource resource(backend);  // no shareable option needed to import
  const vmm_pmr::exported_allocation shared = vmm_pmr::receive_allocation(socket);
  void* memory = resource.import_allocation(shared);  // mapped here, read-write

  char received[sizeof question] = {};
  backend->copy_to_host(received, at(memory), sizeof received);
  if (std::strcmp(received, question) != 0) {
    std::fprintf(stderr, "child: read \"%s\", expected \"%s\"\n", received, question);
    return 1;
  }
  backend->copy_from_host(at(memory, answer_offset), answer, sizeof answer);
  resource.deallocate(memory, shared.descriptor.requested_bytes);  // like any allocation
  const char done = 'd';
  return send(socket, &done, 1, MSG_NOSIGNAL) == 1 ? 0 : 1;
}

// The parent: allocate shareable memory, write, send, wait, read.
int parent(int socket, const std::shared_ptr<vmm_pmr::backend>& backend) {
  vmm_pmr::vmm_options options;
  options.shareable = vmm_pmr::handle_types::posix_fd;  // exportable as file descriptors
  vmm_pmr::vmm_resource resource(backend, options);
  constexpr std::size_t bytes = 1 << 20;
  void* memory = resource.allocate(bytes);
  backend->copy_from_host(at(memory), question, sizeof question);

  // One message: the descriptor, and the fds as SCM_RIGHTS.
  vmm_pmr::send_allocation(socket, resource.export_allocation(memory));
  char done = 0;
  if (recv(socket, &done, 1, 0) != 1) {
    std::fprintf(stderr, "parent: the child did not answer\n");
    return 1;
  }
  char received[sizeof answer] = {};
  backend->copy_to_host(received, at(memory, answer_offset), sizeof received);
  resource.deallocate(memory, bytes);
  if (std::strcmp(received, answer) != 0) {
    std::fprintf(stderr, "parent: read \"%s\", expected \"%s\"\n", received, answer);
    return 1;
  }
  std::printf("parent: the child answered \"%s\" (%s backend)\n", received,
              backend->name().c_str());
  return 0;
}

// Each process opens the backend itself: a process that has initialised CUDA cannot use
// it in a child it forks, so nothing CUDA happens before fork().
std::shared_ptr<vmm_pmr::backend> open_backend(bool on_gpu) {
  if (!on_gpu) return vmm_pmr::make_host_backend();
  if (!vmm_pmr::cuda_available().available) return nullptr;
  return vmm_pmr::cuda_backend();
}

int run(bool is_parent, int socket, bool on_gpu) {
  const std::shared_ptr<vmm_pmr::backend> backend = open_backend(on_gpu);
  if (backend == nullptr) {
    if (is_parent) std::printf("skipped: %s\n", vmm_pmr::cuda_available().reason.c_str());
    return skipped;
  }
  try {
    return is_parent ? parent(socket, backend) : child(socket, backend);
  } catch (const std::exception& failure) {
    std::fprintf(stderr, "%s: %s\n", is_parent ? "parent" : "child", failure.what());
    return 1;
  }
}

}  // namespace

int main(int argc, char** argv) {
  const bool on_gpu = argc > 1 && std::string(argv[1]) == "cuda";
  int sockets[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sockets) != 0) {
    std::perror("socketpair");
    return 1;
  }
  const pid_t pid = fork();
  if (pid < 0) {
    std::perror("fork");
    return 1;
  }
  if (pid == 0) {
    close(sockets[0]);
    const int status = run(false, sockets[1], on_gpu);
    std::fflush(nullptr);
    _exit(status);
  }
  close(sockets[1]);
  const int parent_status = run(true, sockets[0], on_gpu);
  close(sockets[0]);  // a child still waiting for the message sees end of file
  int child_status = 0;
  waitpid(pid, &child_status, 0);
  if (parent_status == skipped) return skipped;
  if (!WIFEXITED(child_status) || WEXITSTATUS(child_status) != 0) {
    std::fprintf(stderr, "the child failed (status %d)\n", child_status);
    return 1;
  }
  return parent_status;
}
