// The N-API surface: argument checks, the worker thread, rows handed over as ArrayBuffers, and one export table per OS.
#include <napi.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "sockets.h"
#if defined(__linux__)
#include "linux.h"
#elif defined(_WIN32)
#include "win32.h"
#else
#error "portclash's addon is for Linux and Windows: binding.gyp names no sources for this OS"
#endif

namespace portclash {
namespace {

// Rows per batch handed to JavaScript while the worker reads on: large enough that crossing
// threads costs little, small enough that JS turns early rows into records while the kernel is
// still producing later ones.
constexpr size_t kBatchRows = 2048;

// Batches handed over but not yet delivered to JS that a reading may have: a slow consumer makes
// the reader wait instead of queuing the whole table a second time (4 × 2048 rows × 80 bytes).
constexpr size_t kMaxQueuedBatches = 4;

// For tests (debugTableQueue): the batches queued now, and whether a reader waits on the bound.
std::atomic<size_t> g_queued_batches{0};
std::atomic<bool> g_reader_waiting{false};

// The first argument as an array of objects, each turned into a T by `convert`; a TypeError names
// `what` when the shape is wrong.
template <typename T, typename Convert>
std::vector<T> ObjectsFromJs(const Napi::CallbackInfo& info, const char* what, Convert convert) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsArray()) {
    throw Napi::TypeError::New(env, std::string("expected an array of ") + what);
  }
  Napi::Array list = info[0].As<Napi::Array>();
  std::vector<T> items;
  items.reserve(list.Length());
  for (uint32_t i = 0; i < list.Length(); ++i) {
    Napi::Value item = list.Get(i);
    if (!item.IsObject()) throw Napi::TypeError::New(env, std::string("each item must be ") + what);
    items.push_back(convert(env, item.As<Napi::Object>()));
  }
  return items;
}

// A whole number from 0 to max (at most 2^53 - 1, where doubles stop being exact), else a RangeError
// naming `what`: casting a negative, fractional, huge or NaN double to an integer is undefined.
uint64_t WholeNumber(Napi::Env env, const Napi::Value& value, const char* what, double max) {
  if (!value.IsNumber()) throw Napi::TypeError::New(env, std::string(what) + " must be a number");
  double number = value.As<Napi::Number>().DoubleValue();
  if (!(number >= 0 && number <= max) || number != std::floor(number)) {
    throw Napi::RangeError::New(env, std::string(what) + " must be a whole number from 0 to " + std::to_string(static_cast<uint64_t>(max)));
  }
  return static_cast<uint64_t>(number);
}

constexpr double kMaxSafeInteger = 9007199254740991.0;

// A protocol and family pair, checked: 6 or 17, and 4 or 6.
std::pair<uint8_t, uint8_t> ProtocolAndFamily(Napi::Env env, const Napi::Object& object, bool both_allowed = false) {
  uint64_t protocol_number = WholeNumber(env, object.Get("protocol"), "protocol", 255);
  uint64_t family_number = WholeNumber(env, object.Get("family"), "family", 255);
  if ((protocol_number != kProtocolTcp && protocol_number != kProtocolUdp) ||
      (family_number != 4 && family_number != 6 && !(both_allowed && family_number == 0 && protocol_number == kProtocolTcp))) {
    throw Napi::RangeError::New(env, both_allowed ? "protocol must be 6 or 17 and family 4 or 6 (or 0, both, for TCP)" : "protocol must be 6 or 17 and family 4 or 6");
  }
  return {static_cast<uint8_t>(protocol_number), static_cast<uint8_t>(family_number)};
}

// { errno, syscall }: 0 and null when no call failed.
Napi::Object FailedCallObject(Napi::Env env, const FailedCall& call) {
  Napi::Object result = Napi::Object::New(env);
#if defined(_WIN32)
  // a Win32 error is a DWORD (STATUS_UNSUCCESSFUL is 0xC0000001): unsigned, as Windows prints it
  result.Set("errno", Napi::Number::New(env, static_cast<double>(static_cast<uint32_t>(call.error))));
#else
  result.Set("errno", Napi::Number::New(env, call.error));
#endif
  result.Set("syscall", call.syscall != nullptr ? Napi::String::New(env, call.syscall) : env.Null());
  return result;
}

Napi::Array SourceResultsToJs(Napi::Env env, const std::vector<SourceResult>& results) {
  Napi::Array list = Napi::Array::New(env, results.size());
  for (size_t i = 0; i < results.size(); ++i) {
    const SourceResult& result = results[i];
    Napi::Object item = FailedCallObject(env, result);
    item.Set("rows", Napi::Number::New(env, static_cast<double>(result.rows)));
    item.Set("malformed", Napi::Number::New(env, static_cast<double>(result.malformed)));
    item.Set("duplicates", Napi::Number::New(env, static_cast<double>(result.duplicates)));
    list.Set(static_cast<uint32_t>(i), item);
  }
  return list;
}

// Packed rows (RawRow, OwnerRow) copied into a new ArrayBuffer for JavaScript.
template <typename Row>
Napi::ArrayBuffer CopyRows(Napi::Env env, const Row* rows, size_t count) {
  Napi::ArrayBuffer buffer = Napi::ArrayBuffer::New(env, count * sizeof(Row));
  if (count > 0) std::memcpy(buffer.Data(), rows, count * sizeof(Row));
  return buffer;
}

// Reads every row of some tables, handing them on in batches when batch_rows > 0.
using TableReader = std::function<std::vector<SourceResult>(std::vector<RawRow>& rows,
                                                            size_t batch_rows,
                                                            const RowBatchSink& sink)>;

// The sync form: { rows, count, sources } with every row in one ArrayBuffer.
Napi::Value ReadAll(Napi::Env env, const TableReader& read) {
  std::vector<RawRow> rows;
  std::vector<SourceResult> results = read(rows, 0, nullptr);

  Napi::Object reading = Napi::Object::New(env);
  reading.Set("rows", CopyRows(env, rows.data(), rows.size()));
  reading.Set("count", Napi::Number::New(env, static_cast<double>(rows.size())));
  reading.Set("sources", SourceResultsToJs(env, results));
  return reading;
}

// Runs a completion callback of pool work. An ending worker thread's environment completes its
// pool work inside its teardown, where making objects or settling a promise throws (nothing can
// run JS there any more): nobody is left to tell, so the throw ends here instead of in
// std::terminate. NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS covers node-addon-api's own rethrow.
template <typename Complete>
void WhileAlive(Complete complete) {
  try {
    complete();
  } catch (const Napi::Error&) {
  }
}

// The native work in flight on libuv's pool, per Node environment (the main thread and each worker
// thread), with the function that stops it. process.exit() runs no env cleanup hook before it joins
// the pool's threads, so without this a scan or a reader waiting for room would hold the exit back:
// JS calls cancelInFlight() on 'exit', for its own environment, or, on the main thread, for every
// one (the workers are ended next, and an environment's teardown waits for its pool work first).
// The cleanup hooks run only after that wait, so they stop nothing that is running; they are kept
// for work that has not started.
class InFlight {
 public:
  using Stop = void (*)(void* work);

  InFlight(napi_env env, Stop stop, void* work) : env_(env), stop_(stop), work_(work) {
    std::lock_guard<std::mutex> lock(mutex_);
    all_.push_back(this);
    napi_add_env_cleanup_hook(env_, stop_, work_);
  }

  ~InFlight() {
    napi_remove_env_cleanup_hook(env_, stop_, work_);
    std::lock_guard<std::mutex> lock(mutex_);
    all_.erase(std::find(all_.begin(), all_.end(), this));
  }

  InFlight(const InFlight&) = delete;
  InFlight& operator=(const InFlight&) = delete;

  // Stops every piece of work of `env`, or of every environment when `env` is null; returns how many.
  static size_t StopAll(napi_env env) {
    std::lock_guard<std::mutex> lock(mutex_);
    size_t count = 0;
    for (InFlight* work : all_) {
      if (env != nullptr && work->env_ != env) continue;
      work->stop_(work->work_);
      ++count;
    }
    return count;
  }

  // How many pieces of work are in flight, in every environment.
  static size_t Count() {
    std::lock_guard<std::mutex> lock(mutex_);
    return all_.size();
  }

 private:
  napi_env env_;
  Stop stop_;
  void* work_;
  static std::mutex mutex_;
  static std::vector<InFlight*> all_;
};

std::mutex InFlight::mutex_;
std::vector<InFlight*> InFlight::all_;

// Reads on a libuv pool thread and hands rows over in batches as they are parsed, so that a
// server calling this before it starts keeps its event loop, and JS work overlaps the kernel's.
// node-addon-api runs OnOK only after every queued OnProgress, so the promise settles last.
class TableWorker : public Napi::AsyncProgressQueueWorker<RawRow> {
 public:
  TableWorker(Napi::Env env, TableReader read, Napi::Function on_rows)
      : Napi::AsyncProgressQueueWorker<RawRow>(env, "portclash:readTables"),
        deferred_(Napi::Promise::Deferred::New(env)),
        read_(std::move(read)),
        on_rows_(Napi::Persistent(on_rows)),
        in_flight_(env, Cancel, this) {}

  Napi::Promise Promise() const { return deferred_.Promise(); }

  void Execute(const ExecutionProgress& progress) override {
    std::vector<RawRow> rows;
    auto send = [this, &progress](std::vector<RawRow>& batch) {
      {
        std::unique_lock<std::mutex> lock(queue_mutex_);
        while (queued_ >= kMaxQueuedBatches && !cancelled_) {
          g_reader_waiting = true;
          // woken by OnProgress, or by the env's teardown; the timeout only re-checks both
          queue_changed_.wait_for(lock, std::chrono::milliseconds(100));
        }
        g_reader_waiting = false;
        if (cancelled_) throw std::runtime_error("the reading was cancelled: the process or thread is exiting");
        ++queued_;
        max_queued_ = std::max(max_queued_, queued_);
        g_queued_batches = queued_;
      }
      progress.Send(batch.data(), batch.size());
      batch.clear();
    };
    results_ = read_(rows, kBatchRows, send);
    if (!rows.empty()) send(rows);
  }

  void OnProgress(const RawRow* rows, size_t count) override {
    {
      std::lock_guard<std::mutex> lock(queue_mutex_);
      if (queued_ > 0) --queued_;
      g_queued_batches = queued_;
    }
    queue_changed_.notify_all();
    if (callback_error_) return;
    Napi::Env env = Env();
    try {
      on_rows_.Call({CopyRows(env, rows, count), Napi::Number::New(env, static_cast<double>(count))});
    } catch (const Napi::Error& error) {
      // A throwing callback ends the reading's use, not the process: reject with its error.
      WhileAlive([&] { callback_error_ = std::make_unique<Napi::ObjectReference>(Napi::Persistent(error.Value())); });
    }
  }

  void OnOK() override {
    WhileAlive([this] {
      if (callback_error_) {
        deferred_.Reject(callback_error_->Value());
        return;
      }
      Napi::Object reading = Napi::Object::New(Env());
      reading.Set("sources", SourceResultsToJs(Env(), results_));
      reading.Set("maxQueuedBatches", Napi::Number::New(Env(), static_cast<double>(max_queued_)));
      deferred_.Resolve(reading);
    });
  }

  void OnError(const Napi::Error& error) override {
    WhileAlive([&] { deferred_.Reject(error.Value()); });
  }

 private:
  Napi::Promise::Deferred deferred_;
  TableReader read_;
  Napi::FunctionReference on_rows_;
  std::vector<SourceResult> results_;
  std::unique_ptr<Napi::ObjectReference> callback_error_;
  std::mutex queue_mutex_;
  std::condition_variable queue_changed_;
  size_t queued_ = 0;
  size_t max_queued_ = 0;
  bool cancelled_ = false;
  InFlight in_flight_;  // last: registered once the rest exists, gone before it

  // The process is exiting or the env is torn down: no batch will be delivered any more, so a
  // reader waiting for room must stop.
  static void Cancel(void* data) {
    auto* worker = static_cast<TableWorker*>(data);
    {
      std::lock_guard<std::mutex> lock(worker->queue_mutex_);
      worker->cancelled_ = true;
    }
    worker->queue_changed_.notify_all();
  }
};

// The async form: (…, onRows(rows, count)) → Promise<{ sources }>.
Napi::Value ReadInBatches(const Napi::CallbackInfo& info, TableReader read) {
  if (info.Length() < 2 || !info[1].IsFunction()) {
    throw Napi::TypeError::New(info.Env(), "onRows must be a function");
  }
  auto* worker = new TableWorker(info.Env(), std::move(read), info[1].As<Napi::Function>());
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

// cancelInFlight(everywhere) → how many pieces of pool work of this environment (of every
// environment with `everywhere`) were told to stop: an owner scan (Linux) then resolves at once
// with `cancelled: true`, a table reading rejects.
Napi::Value CancelInFlight(const Napi::CallbackInfo& info) {
  bool everywhere = info.Length() > 0 && info[0].ToBoolean().Value();
  return Napi::Number::New(info.Env(), static_cast<double>(InFlight::StopAll(everywhere ? nullptr : static_cast<napi_env>(info.Env()))));
}

// countInFlight() → how many pieces of pool work are in flight, in every environment: JS asks
// before cancelInFlight() on 'exit', so that an exit with none (the usual) spends nothing on it.
Napi::Value CountInFlight(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(InFlight::Count()));
}

// debugTableQueue() → { queued, waiting, limit }: the progress queue of the latest async reading.
Napi::Value DebugTableQueue(const Napi::CallbackInfo& info) {
  Napi::Object state = Napi::Object::New(info.Env());
  state.Set("queued", Napi::Number::New(info.Env(), static_cast<double>(g_queued_batches.load())));
  state.Set("waiting", Napi::Boolean::New(info.Env(), g_reader_waiting.load()));
  state.Set("limit", Napi::Number::New(info.Env(), static_cast<double>(kMaxQueuedBatches)));
  return state;
}

#if defined(__linux__)
// Linux: /proc/net, sock_diag, the owner scan, socket options, cgroups and namespaces (linux.h).

// [{ path, protocol, family }] → sources.
std::vector<ProcNetSource> SourcesFromJs(const Napi::CallbackInfo& info) {
  return ObjectsFromJs<ProcNetSource>(info, "{ path, protocol, family }", [](Napi::Env env, const Napi::Object& source) {
    Napi::Value path = source.Get("path");
    if (!path.IsString()) throw Napi::TypeError::New(env, "a source needs a path (string)");
    auto [protocol, family] = ProtocolAndFamily(env, source);
    return ProcNetSource{path.As<Napi::String>().Utf8Value(), protocol, family};
  });
}

// [{ protocol, family, states, port }] → queries; port -1 means any, family 0 both (TCP).
std::vector<DiagQuery> QueriesFromJs(const Napi::CallbackInfo& info) {
  return ObjectsFromJs<DiagQuery>(info, "{ protocol, family, states, port }", [](Napi::Env env, const Napi::Object& query) {
    uint32_t states = static_cast<uint32_t>(WholeNumber(env, query.Get("states"), "states", 4294967295.0));
    Napi::Value port = query.Get("port");
    auto [protocol, family] = ProtocolAndFamily(env, query, true);
    // -1 is any port; Int32Value would wrap 4294967376 to 80
    bool any = port.IsNumber() && port.As<Napi::Number>().DoubleValue() == -1;
    int32_t port_number = any ? -1 : static_cast<int32_t>(WholeNumber(env, port, "port (or -1 for any)", 65535));
    return DiagQuery{protocol, family, states, port_number};
  });
}

// A flag read as -1 (not read), 0 or 1: null, false or true.
Napi::Value FlagOrNull(Napi::Env env, int value) {
  return value < 0 ? env.Null() : Napi::Boolean::New(env, value != 0);
}

TableReader ProcNetReader(std::vector<ProcNetSource> sources) {
  return [sources = std::move(sources)](std::vector<RawRow>& rows, size_t batch_rows,
                                        const RowBatchSink& sink) {
    return ReadProcNet(sources, rows, batch_rows, sink);
  };
}

TableReader SockDiagReader(std::vector<DiagQuery> queries) {
  return [queries = std::move(queries)](std::vector<RawRow>& rows, size_t batch_rows,
                                        const RowBatchSink& sink) {
    return ReadSockDiag(queries, rows, batch_rows, sink);
  };
}

// The network namespace argument at `index`: the path of its nsfs file, or "" (absent, undefined)
// for this process's own.
std::string NetnsArgument(const Napi::CallbackInfo& info, size_t index) {
  if (info.Length() <= index || info[index].IsUndefined()) return "";
  if (!info[index].IsString()) throw Napi::TypeError::New(info.Env(), "netns must be the path of a network namespace file");
  return info[index].As<Napi::String>().Utf8Value();
}

// `read` on a thread inside the network namespace at `netns` (RunInNetns), or where it is called
// for "". When the namespace cannot be entered, each of the `count` sources fails as entering did.
TableReader InNetns(std::string netns, size_t count, TableReader read) {
  if (netns.empty()) return read;
  return [netns = std::move(netns), count, read = std::move(read)](
             std::vector<RawRow>& rows, size_t batch_rows, const RowBatchSink& sink) {
    std::vector<SourceResult> results;
    FailedCall entered = RunInNetns(netns, [&] { results = read(rows, batch_rows, sink); });
    if (entered.error != 0) {
      results.assign(count, SourceResult{});
      for (SourceResult& result : results) result.Fail(entered.syscall, entered.error);
    }
    return results;
  };
}

// readProcNetSync(sources, netns?) and readProcNet(sources, onRows, netns?); the same for sock_diag.
TableReader ProcNetReaderAt(const Napi::CallbackInfo& info, size_t netns_index) {
  std::vector<ProcNetSource> sources = SourcesFromJs(info);
  const size_t count = sources.size();
  return InNetns(NetnsArgument(info, netns_index), count, ProcNetReader(std::move(sources)));
}

TableReader SockDiagReaderAt(const Napi::CallbackInfo& info, size_t netns_index) {
  std::vector<DiagQuery> queries = QueriesFromJs(info);
  const size_t count = queries.size();
  return InNetns(NetnsArgument(info, netns_index), count, SockDiagReader(std::move(queries)));
}

Napi::Value ReadProcNetSync(const Napi::CallbackInfo& info) {
  return ReadAll(info.Env(), ProcNetReaderAt(info, 1));
}

Napi::Value ReadProcNetAsync(const Napi::CallbackInfo& info) {
  return ReadInBatches(info, ProcNetReaderAt(info, 2));
}

Napi::Value ReadSockDiagSync(const Napi::CallbackInfo& info) {
  return ReadAll(info.Env(), SockDiagReaderAt(info, 1));
}

Napi::Value ReadSockDiagAsync(const Napi::CallbackInfo& info) {
  return ReadInBatches(info, SockDiagReaderAt(info, 2));
}

// debugReadTables(kind, list, { batchRows, throwAfterBatches, receiveBytes }) → the sync form's
// reading: a test seam that reads 'proc' sources or 'sock_diag' queries with small batches and a
// sink that throws a std::runtime_error at batch `throwAfterBatches` (0: never), as a failing
// progress queue would, to show that no fd outlives the throw; receiveBytes[i] gives query i a
// receive buffer of that size, so that its dump fails with EMSGSIZE and is abandoned.
Napi::Value DebugReadTables(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsString() || !info[2].IsObject()) {
    throw Napi::TypeError::New(env, "expected (kind, list, options)");
  }
  const std::string kind = info[0].As<Napi::String>().Utf8Value();
  Napi::Object options = info[2].As<Napi::Object>();
  auto number = [&](const char* key) {
    Napi::Value value = options.Get(key);
    return value.IsNumber() ? value.As<Napi::Number>().Uint32Value() : 0u;
  };
  const size_t batch_rows = std::max<uint32_t>(number("batchRows"), 1);
  const uint32_t throw_after = number("throwAfterBatches");
  Napi::Value receive_bytes = options.Get("receiveBytes");
  Napi::Array list = info[1].As<Napi::Array>();
  std::vector<ProcNetSource> sources;
  std::vector<DiagQuery> queries;
  for (uint32_t i = 0; i < list.Length(); ++i) {
    Napi::Object item = list.Get(i).As<Napi::Object>();
    auto [protocol, family] = ProtocolAndFamily(env, item);
    if (kind == "proc") {
      sources.push_back({item.Get("path").As<Napi::String>().Utf8Value(), protocol, family});
    } else {
      queries.push_back({protocol, family, item.Get("states").As<Napi::Number>().Uint32Value(),
                         item.Get("port").As<Napi::Number>().Int32Value()});
      if (receive_bytes.IsArray()) {
        Napi::Value bytes = receive_bytes.As<Napi::Array>().Get(i);
        if (bytes.IsNumber()) queries.back().receive_bytes = static_cast<uint32_t>(WholeNumber(env, bytes, "receiveBytes", 1 << 30));
      }
    }
  }
  TableReader read = kind == "proc" ? ProcNetReader(std::move(sources)) : SockDiagReader(std::move(queries));
  std::vector<RawRow> kept;
  uint32_t batches = 0;
  RowBatchSink sink = [&](std::vector<RawRow>& batch) {
    if (++batches == throw_after) throw std::runtime_error("the row sink failed (debugReadTables)");
    kept.insert(kept.end(), batch.begin(), batch.end());
    batch.clear();
  };
  std::vector<RawRow> rows;
  std::vector<SourceResult> results = read(rows, batch_rows, sink);
  kept.insert(kept.end(), rows.begin(), rows.end());
  Napi::Object reading = Napi::Object::New(env);
  reading.Set("rows", CopyRows(env, kept.data(), kept.size()));
  reading.Set("count", Napi::Number::New(env, static_cast<double>(kept.size())));
  reading.Set("sources", SourceResultsToJs(env, results));
  return reading;
}

// parseSockDiagReply(bytes, protocol, sequence) → { rows, count, status, errno, malformed }:
// the reader's own parser, over one datagram a test or a capture supplies.
Napi::Value ParseSockDiagReply(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsTypedArray() || !info[1].IsNumber() || !info[2].IsNumber()) {
    throw Napi::TypeError::New(env, "expected (bytes: Uint8Array, protocol, sequence)");
  }
  Napi::Uint8Array bytes = info[0].As<Napi::Uint8Array>();
  std::vector<RawRow> rows;
  SourceResult result;
  DiagStatus status = ParseDiagDatagram(bytes.Data(), bytes.ByteLength(),
                                        info[2].As<Napi::Number>().Uint32Value(),
                                        static_cast<uint8_t>(info[1].As<Napi::Number>().Uint32Value()),
                                        rows, result);
  Napi::Object reply = Napi::Object::New(env);
  reply.Set("rows", CopyRows(env, rows.data(), rows.size()));
  reply.Set("count", Napi::Number::New(env, static_cast<double>(rows.size())));
  reply.Set("status", status == DiagStatus::kDone ? "done" : status == DiagStatus::kError ? "error" : "more");
  reply.Set("errno", Napi::Number::New(env, result.error));
  reply.Set("malformed", Napi::Number::New(env, static_cast<double>(result.malformed)));
  return reply;
}


// { inodes: number[] | null, pids: number[] | null, stopWhenFound: boolean }: null (or absent) asks
// for every socket or process, an empty list for none.
OwnerQuery OwnerQueryFromJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) {
    throw Napi::TypeError::New(env, "expected { inodes, pids, stopWhenFound }");
  }
  Napi::Object object = info[0].As<Napi::Object>();
  OwnerQuery query;
  // false when the key is null or absent: every one
  auto numbers = [&](const char* key, auto& out, double max) {
    Napi::Value value = object.Get(key);
    if (value.IsNull() || value.IsUndefined()) return false;
    if (!value.IsArray()) throw Napi::TypeError::New(env, std::string(key) + " must be an array or null");
    Napi::Array list = value.As<Napi::Array>();
    for (uint32_t i = 0; i < list.Length(); ++i) {
      using Item = typename std::decay_t<decltype(out)>::value_type;
      out.push_back(static_cast<Item>(WholeNumber(env, list.Get(i), key, max)));
    }
    return true;
  };
  query.every_socket = !numbers("inodes", query.inodes, kMaxSafeInteger);
  query.every_process = !numbers("pids", query.pids, 4294967295.0);
  std::sort(query.inodes.begin(), query.inodes.end());
  query.inodes.erase(std::unique(query.inodes.begin(), query.inodes.end()), query.inodes.end());
  query.stop_when_found = object.Get("stopWhenFound").ToBoolean().Value();
  return query;
}

Napi::Object OwnerScanToJs(Napi::Env env, const OwnerScan& scan) {
  Napi::Object result = Napi::Object::New(env);
  result.Set("rows", CopyRows(env, scan.rows.data(), scan.rows.size()));
  result.Set("count", Napi::Number::New(env, static_cast<double>(scan.rows.size())));
  Napi::Array denied = Napi::Array::New(env, scan.denied_pids.size());
  for (size_t i = 0; i < scan.denied_pids.size(); ++i) {
    denied.Set(static_cast<uint32_t>(i), Napi::Number::New(env, scan.denied_pids[i]));
  }
  result.Set("deniedPids", denied);
  Napi::Array vanished = Napi::Array::New(env, scan.vanished_pids.size());
  for (size_t i = 0; i < scan.vanished_pids.size(); ++i) {
    vanished.Set(static_cast<uint32_t>(i), Napi::Number::New(env, scan.vanished_pids[i]));
  }
  result.Set("vanishedPids", vanished);
  result.Set("processes", Napi::Number::New(env, scan.processes));
  result.Set("vanished", Napi::Number::New(env, scan.vanished));
  result.Set("links", Napi::Number::New(env, static_cast<double>(scan.links)));
  result.Set("errno", Napi::Number::New(env, scan.error));
  result.Set("cancelled", Napi::Boolean::New(env, scan.cancelled));
  return result;
}

// The scan on the calling thread. A C++ exception from it reaches JS as an error, not
// std::terminate: NODE_ADDON_API_CPP_EXCEPTIONS_ALL (binding.gyp) converts it at every export.
OwnerScan ScanSync(const OwnerQuery& query) {
  OwnerScan scan;
  ScanSocketOwners(query, scan);
  return scan;
}

// findSocketOwnersSync(query) → { rows, count, deniedPids, vanishedPids, processes, vanished, links, errno, cancelled }
Napi::Value FindSocketOwnersSync(const Napi::CallbackInfo& info) {
  return OwnerScanToJs(info.Env(), ScanSync(OwnerQueryFromJs(info)));
}

class OwnerWorker : public Napi::AsyncWorker {
 public:
  OwnerWorker(Napi::Env env, OwnerQuery query)
      : Napi::AsyncWorker(env, "portclash:findSocketOwners"),
        deferred_(Napi::Promise::Deferred::New(env)),
        query_(std::move(query)),
        in_flight_(env, Cancel, &cancel_) {
    query_.cancel = &cancel_;
  }

  Napi::Promise Promise() const { return deferred_.Promise(); }
  void Execute() override { ScanSocketOwners(query_, scan_); }
  void OnOK() override {
    WhileAlive([this] { deferred_.Resolve(OwnerScanToJs(Env(), scan_)); });
  }
  void OnError(const Napi::Error& error) override {
    WhileAlive([&] { deferred_.Reject(error.Value()); });
  }

  static void Cancel(void* flag) { static_cast<std::atomic<bool>*>(flag)->store(true); }

 private:
  Napi::Promise::Deferred deferred_;
  OwnerQuery query_;
  OwnerScan scan_;
  std::atomic<bool> cancel_{false};
  InFlight in_flight_;  // after cancel_, which it points at
};

// findSocketOwners(query) → Promise of the same, scanned on a libuv pool thread.
Napi::Value FindSocketOwnersAsync(const Napi::CallbackInfo& info) {
  auto* worker = new OwnerWorker(info.Env(), OwnerQueryFromJs(info));
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

// debugFindSocketOwners(query, throwAtPid, sync): the owner scan with a throw on reaching that pid,
// for the tests of what a failing scan leaves behind.
Napi::Value DebugFindSocketOwners(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  OwnerQuery query = OwnerQueryFromJs(info);
  if (info.Length() < 3) throw Napi::TypeError::New(env, "expected (query, throwAtPid, sync)");
  query.debug_throw_at_pid = static_cast<uint32_t>(WholeNumber(env, info[1], "throwAtPid", 4294967295.0));
  if (info[2].ToBoolean().Value()) return OwnerScanToJs(env, ScanSync(query));
  auto* worker = new OwnerWorker(env, std::move(query));
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

// readSocketOptions(pid, fd, inode) → { errno, syscall, reuseAddr, reusePort, ipv6Only }, each
// option a boolean or null when it could not be read.
Napi::Value ReadSocketOptionsJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3) throw Napi::TypeError::New(env, "expected (pid, fd, inode)");
  uint32_t pid = static_cast<uint32_t>(WholeNumber(env, info[0], "pid", 4294967295.0));
  int32_t fd = static_cast<int32_t>(WholeNumber(env, info[1], "fd", 2147483647.0));
  uint64_t inode = WholeNumber(env, info[2], "inode", kMaxSafeInteger);
  SocketOptions options = ReadSocketOptions(pid, fd, inode);
  Napi::Object result = FailedCallObject(env, options);
  result.Set("reuseAddr", FlagOrNull(env, options.reuse_addr));
  result.Set("reusePort", FlagOrNull(env, options.reuse_port));
  result.Set("ipv6Only", FlagOrNull(env, options.ipv6_only));
  return result;
}

// debugPauseAfterGetfd(fd): see DebugPauseAfterGetfd; -1 turns it off.
Napi::Value DebugPauseAfterGetfdJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) throw Napi::TypeError::New(env, "expected (fd)");
  DebugPauseAfterGetfd(info[0].As<Napi::Number>().Int32Value());
  return env.Undefined();
}

// debugPauseScan(fd, pid, 'open' | 'batch'): see DebugPauseScan; pid 0 turns it off.
Napi::Value DebugPauseScanJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsNumber() || !info[2].IsString()) {
    throw Napi::TypeError::New(env, "expected (fd, pid, 'open' | 'batch')");
  }
  const std::string where = info[2].As<Napi::String>().Utf8Value();
  if (where != "open" && where != "batch") throw Napi::RangeError::New(env, "where must be 'open' or 'batch'");
  uint32_t pid = static_cast<uint32_t>(WholeNumber(env, info[1], "pid", 4294967295.0));
  DebugPauseScan(info[0].As<Napi::Number>().Int32Value(), pid,
                 where == "open" ? ScanPausePoint::kBeforeOpen : ScanPausePoint::kAfterBatch);
  return env.Undefined();
}

// cgroupHooks(cgroupPath) → { errno, syscall, sockCreate, inet4Bind, inet6Bind, inet4PostBind,
// inet6PostBind }, each count null when it could not be read.
Napi::Value CgroupHooksJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, "expected (cgroupPath)");
  CgroupHooks hooks = QueryCgroupHooks(info[0].As<Napi::String>().Utf8Value().c_str());
  Napi::Object result = FailedCallObject(env, hooks);
  const std::pair<const char*, long> counts[] = {
      {"sockCreate", hooks.sock_create},        {"inet4Bind", hooks.inet4_bind},
      {"inet6Bind", hooks.inet6_bind},          {"inet4PostBind", hooks.inet4_post_bind},
      {"inet6PostBind", hooks.inet6_post_bind},
  };
  for (const auto& [name, count] : counts) {
    result.Set(name, count < 0 ? env.Null() : Napi::Number::New(env, static_cast<double>(count)));
  }
  return result;
}

// readCgroupProcs(mountpoint, cgroupId) → { errno, syscall, text }: the cgroup's cgroup.procs.
Napi::Value ReadCgroupProcsJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString()) throw Napi::TypeError::New(env, "expected (mountpoint, cgroupId)");
  uint64_t id = WholeNumber(env, info[1], "cgroupId", kMaxSafeInteger);
  CgroupProcs procs = ReadCgroupProcs(info[0].As<Napi::String>().Utf8Value().c_str(), id);
  Napi::Object result = FailedCallObject(env, procs);
  result.Set("text", Napi::String::New(env, procs.text));
  return result;
}

// { errno, syscall, count }: count null when it could not be read.
Napi::Object ProgramCountToJs(Napi::Env env, const ProgramCount& counted) {
  Napi::Object result = FailedCallObject(env, counted);
  result.Set("count", counted.count < 0 ? env.Null() : Napi::Number::New(env, static_cast<double>(counted.count)));
  return result;
}

// cgroupGetsockoptHooks(mountpoint, cgroupId) → { errno, syscall, count }: the getsockopt programs
// that run for sockets of the cgroup v2 with this id, opened by file handle.
Napi::Value CgroupGetsockoptHooksJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString()) throw Napi::TypeError::New(env, "expected (mountpoint, cgroupId)");
  uint64_t id = WholeNumber(env, info[1], "cgroupId", kMaxSafeInteger);
  return ProgramCountToJs(env, CountGetsockoptProgramsById(info[0].As<Napi::String>().Utf8Value().c_str(), id));
}

// cgroupGetsockoptHooksAt(cgroupPath) → the same, for the cgroup v2 directory at that path.
Napi::Value CgroupGetsockoptHooksAtJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, "expected (cgroupPath)");
  return ProgramCountToJs(env, CountGetsockoptProgramsAt(info[0].As<Napi::String>().Utf8Value().c_str()));
}

// netnsOwnerRelation(netns?) → 'same' | 'owner' | 'none' | 'unknown', for this process's
// network namespace or the one at `netns`.
Napi::Value NetnsOwnerRelationJs(const Napi::CallbackInfo& info) {
  std::string netns = NetnsArgument(info, 0);
  switch (NetnsOwnerRelation(netns.empty() ? "/proc/self/ns/net" : netns.c_str())) {
    case NamespaceRelation::kSame: return Napi::String::New(info.Env(), "same");
    case NamespaceRelation::kOwner: return Napi::String::New(info.Env(), "owner");
    case NamespaceRelation::kNone: return Napi::String::New(info.Env(), "none");
    default: return Napi::String::New(info.Env(), "unknown");
  }
}

// identifyNetns(path) → { errno, syscall, inode, device, network }.
Napi::Value IdentifyNetnsJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(env, "expected (path)");
  NetnsIdentity identity = IdentifyNetns(info[0].As<Napi::String>().Utf8Value().c_str());
  Napi::Object result = FailedCallObject(env, identity);
  result.Set("inode", Napi::Number::New(env, static_cast<double>(identity.inode)));
  result.Set("device", Napi::Number::New(env, static_cast<double>(identity.device)));
  result.Set("network", Napi::Boolean::New(env, identity.network));
  return result;
}

// listInterfaces(netns?) → [{ index, name }] of this namespace or the one at `netns`; [] when that
// one cannot be entered (the names only label bound devices).
Napi::Value ListInterfacesJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string netns = NetnsArgument(info, 0);
  std::vector<InterfaceName> interfaces;
  if (netns.empty()) {
    interfaces = ListInterfaces();
  } else {
    RunInNetns(netns, [&] { interfaces = ListInterfaces(); });
  }
  Napi::Array list = Napi::Array::New(env, interfaces.size());
  for (size_t i = 0; i < interfaces.size(); ++i) {
    Napi::Object item = Napi::Object::New(env);
    item.Set("index", Napi::Number::New(env, interfaces[i].index));
    item.Set("name", Napi::String::New(env, interfaces[i].name));
    list.Set(static_cast<uint32_t>(i), item);
  }
  return list;
}

// Larger than any sysctl or a busy router's /proc/net/fib_trie, small enough to bound a misread.
constexpr size_t kMaxFileBytes = 64 * 1024 * 1024;

// readFiles(paths, netns?) → [{ errno, syscall, text }], read inside the network namespace at
// `netns` when given (where /proc/thread-self/net and /proc/sys/net are that namespace's); when it
// cannot be entered, every file fails as entering did.
Napi::Value ReadFilesJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsArray()) throw Napi::TypeError::New(env, "expected (paths, netns?)");
  Napi::Array given = info[0].As<Napi::Array>();
  std::vector<std::string> paths;
  for (uint32_t i = 0; i < given.Length(); ++i) {
    Napi::Value path = given.Get(i);
    if (!path.IsString()) throw Napi::TypeError::New(env, "each path must be a string");
    paths.push_back(path.As<Napi::String>().Utf8Value());
  }
  std::string netns = NetnsArgument(info, 1);
  std::vector<FileText> files;
  if (netns.empty()) {
    files = ReadFiles(paths, kMaxFileBytes);
  } else {
    FailedCall entered = RunInNetns(netns, [&] { files = ReadFiles(paths, kMaxFileBytes); });
    if (entered.error != 0) {
      files.assign(paths.size(), FileText{});
      for (FileText& file : files) file.Fail(entered.syscall, entered.error);
    }
  }
  Napi::Array list = Napi::Array::New(env, files.size());
  for (size_t i = 0; i < files.size(); ++i) {
    Napi::Object item = FailedCallObject(env, files[i]);
    item.Set("text", Napi::String::New(env, files[i].text));
    list.Set(static_cast<uint32_t>(i), item);
  }
  return list;
}

// [{ type, family, dump, attributes }] → nf_tables requests; attributes is a Uint8Array (or absent)
// of netlink attributes built in JS.
std::vector<NftRequest> NftRequestsFromJs(const Napi::CallbackInfo& info) {
  return ObjectsFromJs<NftRequest>(info, "{ type, family, dump, attributes }", [](Napi::Env env, const Napi::Object& item) {
    NftRequest request{static_cast<uint8_t>(WholeNumber(env, item.Get("type"), "type", 255)),
                       static_cast<uint8_t>(WholeNumber(env, item.Get("family"), "family", 255)),
                       item.Get("dump").ToBoolean().Value(), {}};
    Napi::Value attributes = item.Get("attributes");
    if (!attributes.IsUndefined() && !attributes.IsNull()) {
      if (!attributes.IsTypedArray() || attributes.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
        throw Napi::TypeError::New(env, "attributes must be a Uint8Array");
      }
      Napi::Uint8Array bytes = attributes.As<Napi::Uint8Array>();
      // a request is one netlink message: the kernel takes no more than a page's worth here
      if (bytes.ByteLength() > 4096) throw Napi::RangeError::New(env, "attributes must be at most 4096 bytes");
      request.attributes.assign(bytes.Data(), bytes.Data() + bytes.ByteLength());
    }
    return request;
  });
}

// [{ errno, syscall, messages }]: each reply's raw netlink messages in an ArrayBuffer of its own.
Napi::Array NftRepliesToJs(Napi::Env env, const std::vector<NftReply>& replies) {
  Napi::Array list = Napi::Array::New(env, replies.size());
  for (size_t i = 0; i < replies.size(); ++i) {
    Napi::Object item = FailedCallObject(env, replies[i]);
    item.Set("messages", CopyRows(env, replies[i].messages.data(), replies[i].messages.size()));
    list.Set(static_cast<uint32_t>(i), item);
  }
  return list;
}

// The replies, read inside the network namespace at `netns` ("" for this one): every reply fails
// as entering did when it cannot be entered.
std::vector<NftReply> ReadNftablesAt(const std::string& netns, const std::vector<NftRequest>& requests, const std::atomic<bool>* cancel) {
  if (netns.empty()) return ReadNftables(requests, cancel);
  std::vector<NftReply> replies;
  FailedCall entered = RunInNetns(netns, [&] { replies = ReadNftables(requests, cancel); });
  if (entered.error != 0) {
    replies.assign(requests.size(), NftReply{});
    for (NftReply& reply : replies) reply.Fail(entered.syscall, entered.error);
  }
  return replies;
}

// readNftablesSync(requests, netns?) → the replies (linux_nftables.cc), read on the calling thread.
Napi::Value ReadNftablesSync(const Napi::CallbackInfo& info) {
  return NftRepliesToJs(info.Env(), ReadNftablesAt(NetnsArgument(info, 1), NftRequestsFromJs(info), nullptr));
}

// The same on a libuv pool thread; the exit and teardown hooks (InFlight) make its waits end with
// ECANCELED, so that a reading in flight never holds process.exit() back.
class NftablesWorker : public Napi::AsyncWorker {
 public:
  NftablesWorker(Napi::Env env, std::vector<NftRequest> requests, std::string netns)
      : Napi::AsyncWorker(env, "portclash:readNftables"),
        deferred_(Napi::Promise::Deferred::New(env)),
        requests_(std::move(requests)),
        netns_(std::move(netns)),
        in_flight_(env, Cancel, &cancel_) {}

  Napi::Promise Promise() const { return deferred_.Promise(); }
  void Execute() override { replies_ = ReadNftablesAt(netns_, requests_, &cancel_); }
  void OnOK() override {
    WhileAlive([this] { deferred_.Resolve(NftRepliesToJs(Env(), replies_)); });
  }
  void OnError(const Napi::Error& error) override {
    WhileAlive([&] { deferred_.Reject(error.Value()); });
  }

  static void Cancel(void* flag) { static_cast<std::atomic<bool>*>(flag)->store(true); }

 private:
  Napi::Promise::Deferred deferred_;
  std::vector<NftRequest> requests_;
  std::string netns_;
  std::vector<NftReply> replies_;
  std::atomic<bool> cancel_{false};
  InFlight in_flight_;  // after cancel_, which it points at
};

// readNftables(requests, netns?) → Promise of the replies.
Napi::Value ReadNftablesAsync(const Napi::CallbackInfo& info) {
  auto* worker = new NftablesWorker(info.Env(), NftRequestsFromJs(info), NetnsArgument(info, 1));
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

#elif defined(_WIN32)
// Windows: IP Helper's tables, the facts of processes, the services, and registry values (win32.h).

// [{ protocol, family }] → the tables to read, in that order.
std::vector<IpHelperQuery> IpHelperQueriesFromJs(const Napi::CallbackInfo& info) {
  return ObjectsFromJs<IpHelperQuery>(info, "{ protocol, family }", [](Napi::Env env, const Napi::Object& query) {
    auto [protocol, family] = ProtocolAndFamily(env, query);
    return IpHelperQuery{protocol, family};
  });
}

TableReader IpHelperReader(std::vector<IpHelperQuery> queries) {
  return [queries = std::move(queries)](std::vector<RawRow>& rows, size_t batch_rows,
                                        const RowBatchSink& sink) {
    return ReadIpHelper(queries, rows, batch_rows, sink);
  };
}

// readIpHelperSync(queries) → { rows, count, sources }
Napi::Value ReadIpHelperSync(const Napi::CallbackInfo& info) {
  return ReadAll(info.Env(), IpHelperReader(IpHelperQueriesFromJs(info)));
}

// readIpHelper(queries, onRows) → Promise of { sources }, the rows through onRows in batches.
Napi::Value ReadIpHelperAsync(const Napi::CallbackInfo& info) {
  return ReadInBatches(info, IpHelperReader(IpHelperQueriesFromJs(info)));
}

// A string, or null when the fact's error says it could not be read.
Napi::Value TextOrNull(Napi::Env env, uint32_t error, const std::string& text) {
  return error == 0 ? Napi::String::New(env, text) : env.Null();
}

// processInfo(pids) → [{ pid, image, imageError, user, userError, startTime, startError, parentPid,
// parentError }], one per pid in order; a fact is null where its error (a Win32 error code) is not 0.
Napi::Value ProcessInfoJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsArray()) throw Napi::TypeError::New(env, "expected an array of pids");
  Napi::Array pids = info[0].As<Napi::Array>();
  std::vector<uint32_t> wanted;
  wanted.reserve(pids.Length());
  for (uint32_t i = 0; i < pids.Length(); ++i) {
    wanted.push_back(static_cast<uint32_t>(WholeNumber(env, pids.Get(i), "pid", 4294967295.0)));
  }
  Napi::Array list = Napi::Array::New(env, wanted.size());
  const ParentPids parents = ReadParentPids();
  for (size_t i = 0; i < wanted.size(); ++i) {
    const ProcessFacts facts = ReadProcessFacts(wanted[i], parents);
    Napi::Object item = Napi::Object::New(env);
    item.Set("pid", Napi::Number::New(env, facts.pid));
    item.Set("image", TextOrNull(env, facts.image_error, facts.image));
    item.Set("imageError", Napi::Number::New(env, facts.image_error));
    item.Set("user", TextOrNull(env, facts.user_error, facts.user));
    item.Set("userError", Napi::Number::New(env, facts.user_error));
    item.Set("startTime", facts.start_error == 0 ? Napi::Number::New(env, facts.start_time_ms) : env.Null());
    item.Set("startError", Napi::Number::New(env, facts.start_error));
    item.Set("parentPid", facts.parent_error == 0 ? Napi::Number::New(env, facts.parent_pid) : env.Null());
    item.Set("parentError", Napi::Number::New(env, facts.parent_error));
    list.Set(static_cast<uint32_t>(i), item);
  }
  return list;
}

// listServices() → { errno, syscall, services: [{ name, displayName, pid }] }
Napi::Value ListServicesJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const ServiceList list = ListServices();
  Napi::Object result = FailedCallObject(env, list);
  Napi::Array services = Napi::Array::New(env, list.services.size());
  for (size_t i = 0; i < list.services.size(); ++i) {
    Napi::Object item = Napi::Object::New(env);
    item.Set("name", Napi::String::New(env, list.services[i].name));
    item.Set("displayName", Napi::String::New(env, list.services[i].display_name));
    item.Set("pid", Napi::Number::New(env, list.services[i].pid));
    services.Set(static_cast<uint32_t>(i), item);
  }
  result.Set("services", services);
  return result;
}

// readRegistryValues(paths) → [{ errno, syscall, changing, values: [{ name, type, data, error }] }],
// one per path under HKEY_LOCAL_MACHINE, in order (see ReadRegistryValues). `data` is null but for
// a REG_SZ read whole.
Napi::Value ReadRegistryValuesJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsArray()) throw Napi::TypeError::New(env, "expected an array of key paths");
  Napi::Array given = info[0].As<Napi::Array>();
  std::vector<std::string> paths;
  paths.reserve(given.Length());
  for (uint32_t i = 0; i < given.Length(); ++i) {
    Napi::Value path = given.Get(i);
    if (!path.IsString()) throw Napi::TypeError::New(env, "every key path must be a string");
    paths.push_back(path.As<Napi::String>().Utf8Value());
  }
  const std::vector<RegistryValues> keys = ReadRegistryValues(paths);
  Napi::Array list = Napi::Array::New(env, keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    Napi::Object item = FailedCallObject(env, keys[i]);
    item.Set("changing", Napi::Boolean::New(env, keys[i].changing));
    Napi::Array values = Napi::Array::New(env, keys[i].values.size());
    for (size_t j = 0; j < keys[i].values.size(); ++j) {
      const RegistryValue& value = keys[i].values[j];
      Napi::Object entry = Napi::Object::New(env);
      entry.Set("name", Napi::String::New(env, value.name));
      entry.Set("type", Napi::Number::New(env, value.type));
      entry.Set("data", value.error == 0 && value.type == kRegistryString ? Napi::Value(Napi::String::New(env, value.data)) : env.Null());
      entry.Set("error", Napi::Number::New(env, value.error));
      values.Set(static_cast<uint32_t>(j), entry);
    }
    item.Set("values", values);
    list.Set(static_cast<uint32_t>(i), item);
  }
  return list;
}

// debugTableRetries(growths) → { errno, calls }: the tables' retry loop over a table that outgrows
// its buffer `growths` times (see DebugTableRetries).
Napi::Value DebugTableRetriesJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1) throw Napi::TypeError::New(env, "expected (growths)");
  uint32_t growths = static_cast<uint32_t>(WholeNumber(env, info[0], "growths", 1000));
  uint32_t calls = 0;
  uint32_t error = DebugTableRetries(growths, calls);
  Napi::Object result = Napi::Object::New(env);
  result.Set("errno", Napi::Number::New(env, error));
  result.Set("calls", Napi::Number::New(env, calls));
  return result;
}
#endif

}  // namespace

// The exports: what every OS has, then one table per OS.
Napi::Object Init(Napi::Env env, Napi::Object exports) {
  // the layout of the packed rows, which lib/binding.ts checks before it reads any
  exports.Set("rowLayoutVersion", Napi::Number::New(env, kRowLayoutVersion));
  exports.Set("rowSize", Napi::Number::New(env, sizeof(RawRow)));
  using Entry = Napi::Value (*)(const Napi::CallbackInfo&);
  using Table = std::initializer_list<std::pair<const char*, Entry>>;
#if defined(__linux__)
  const Table functions = {
      {"readProcNet", ReadProcNetAsync},
      {"readProcNetSync", ReadProcNetSync},
      {"readSockDiag", ReadSockDiagAsync},
      {"readSockDiagSync", ReadSockDiagSync},
      {"parseSockDiagReply", ParseSockDiagReply},
      {"debugReadTables", DebugReadTables},
      {"debugTableQueue", DebugTableQueue},
      {"listInterfaces", ListInterfacesJs},
      {"findSocketOwners", FindSocketOwnersAsync},
      {"findSocketOwnersSync", FindSocketOwnersSync},
      {"debugFindSocketOwners", DebugFindSocketOwners},
      {"cancelInFlight", CancelInFlight},
      {"countInFlight", CountInFlight},
      {"readSocketOptions", ReadSocketOptionsJs},
      {"debugPauseAfterGetfd", DebugPauseAfterGetfdJs},
      {"debugPauseScan", DebugPauseScanJs},
      {"cgroupHooks", CgroupHooksJs},
      {"readCgroupProcs", ReadCgroupProcsJs},
      {"cgroupGetsockoptHooks", CgroupGetsockoptHooksJs},
      {"cgroupGetsockoptHooksAt", CgroupGetsockoptHooksAtJs},
      {"netnsOwnerRelation", NetnsOwnerRelationJs},
      {"identifyNetns", IdentifyNetnsJs},
      {"readFiles", ReadFilesJs},
      {"readNftables", ReadNftablesAsync},
      {"readNftablesSync", ReadNftablesSync},
  };
  exports.Set("clockTicksPerSecond", Napi::Number::New(env, static_cast<double>(ClockTicksPerSecond())));
#elif defined(_WIN32)
  const Table functions = {
      {"readIpHelper", ReadIpHelperAsync},
      {"readIpHelperSync", ReadIpHelperSync},
      {"debugTableRetries", DebugTableRetriesJs},
      {"debugTableQueue", DebugTableQueue},
      {"cancelInFlight", CancelInFlight},
      {"countInFlight", CountInFlight},
      {"processInfo", ProcessInfoJs},
      {"listServices", ListServicesJs},
      {"readRegistryValues", ReadRegistryValuesJs},
  };
#endif
  for (const auto& [name, function] : functions) exports.Set(name, Napi::Function::New(env, function, name));
  return exports;
}

}  // namespace portclash

static Napi::Object InitPortclash(Napi::Env env, Napi::Object exports) {
  return portclash::Init(env, exports);
}

NODE_API_MODULE(NODE_GYP_MODULE_NAME, InitPortclash)
