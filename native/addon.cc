// The N-API surface: argument checks, the worker thread, and rows handed over as ArrayBuffers.
#include <napi.h>

#include <cstring>
#include <memory>
#include <utility>
#include <vector>

#include "sockets.h"

namespace portclash {
namespace {

// Rows per batch handed to JavaScript while the worker reads on: large enough that crossing
// threads costs little, small enough that JS turns early rows into records while the kernel is
// still producing later ones.
constexpr size_t kBatchRows = 2048;

// [{ path, protocol, family }] → sources; throws a JS TypeError on anything else.
std::vector<ProcNetSource> SourcesFromJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsArray()) {
    throw Napi::TypeError::New(env, "sources must be an array of { path, protocol, family }");
  }
  Napi::Array list = info[0].As<Napi::Array>();
  std::vector<ProcNetSource> sources;
  sources.reserve(list.Length());
  for (uint32_t i = 0; i < list.Length(); ++i) {
    Napi::Value item = list.Get(i);
    if (!item.IsObject()) throw Napi::TypeError::New(env, "each source must be an object");
    Napi::Object source = item.As<Napi::Object>();
    Napi::Value path = source.Get("path");
    Napi::Value protocol = source.Get("protocol");
    Napi::Value family = source.Get("family");
    if (!path.IsString() || !protocol.IsNumber() || !family.IsNumber()) {
      throw Napi::TypeError::New(env, "a source needs path (string), protocol and family (numbers)");
    }
    uint32_t protocol_number = protocol.As<Napi::Number>().Uint32Value();
    uint32_t family_number = family.As<Napi::Number>().Uint32Value();
    if ((protocol_number != kProtocolTcp && protocol_number != kProtocolUdp) ||
        (family_number != 4 && family_number != 6)) {
      throw Napi::RangeError::New(env, "protocol must be 6 or 17 and family 4 or 6");
    }
    sources.push_back({path.As<Napi::String>().Utf8Value(), static_cast<uint8_t>(protocol_number),
                       static_cast<uint8_t>(family_number)});
  }
  return sources;
}

Napi::Array SourceResultsToJs(Napi::Env env, const std::vector<SourceResult>& results) {
  Napi::Array list = Napi::Array::New(env, results.size());
  for (size_t i = 0; i < results.size(); ++i) {
    const SourceResult& result = results[i];
    Napi::Object item = Napi::Object::New(env);
    item.Set("rows", Napi::Number::New(env, static_cast<double>(result.rows)));
    item.Set("malformed", Napi::Number::New(env, static_cast<double>(result.malformed)));
    item.Set("errno", Napi::Number::New(env, result.error));
    item.Set("syscall", result.syscall != nullptr ? Napi::String::New(env, result.syscall)
                                                  : env.Null());
    list.Set(static_cast<uint32_t>(i), item);
  }
  return list;
}

Napi::ArrayBuffer CopyRows(Napi::Env env, const RawRow* rows, size_t count) {
  Napi::ArrayBuffer buffer = Napi::ArrayBuffer::New(env, count * sizeof(RawRow));
  if (count > 0) std::memcpy(buffer.Data(), rows, count * sizeof(RawRow));
  return buffer;
}

// readProcNetSync(sources) → { rows, count, sources }: every row in one ArrayBuffer.
Napi::Value ReadProcNetSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<ProcNetSource> sources = SourcesFromJs(info);
  std::vector<RawRow> rows;
  std::vector<SourceResult> results = ReadProcNet(sources, rows);

  Napi::Object reading = Napi::Object::New(env);
  reading.Set("rows", CopyRows(env, rows.data(), rows.size()));
  reading.Set("count", Napi::Number::New(env, static_cast<double>(rows.size())));
  reading.Set("sources", SourceResultsToJs(env, results));
  return reading;
}

// Reads on a libuv pool thread and hands rows over in batches as they are parsed, so that a
// server calling this before it starts keeps its event loop, and JS work overlaps the kernel's.
// node-addon-api runs OnOK only after every queued OnProgress, so the promise settles last.
class ProcNetWorker : public Napi::AsyncProgressQueueWorker<RawRow> {
 public:
  ProcNetWorker(Napi::Env env, std::vector<ProcNetSource> sources, Napi::Function on_rows)
      : Napi::AsyncProgressQueueWorker<RawRow>(env, "portclash:readProcNet"),
        deferred_(Napi::Promise::Deferred::New(env)),
        sources_(std::move(sources)),
        on_rows_(Napi::Persistent(on_rows)) {}

  Napi::Promise Promise() const { return deferred_.Promise(); }

  void Execute(const ExecutionProgress& progress) override {
    std::vector<RawRow> rows;
    auto send = [&progress](std::vector<RawRow>& batch) {
      progress.Send(batch.data(), batch.size());
      batch.clear();
    };
    results_ = ReadProcNet(sources_, rows, kBatchRows, send);
    if (!rows.empty()) send(rows);
  }

  void OnProgress(const RawRow* rows, size_t count) override {
    if (callback_error_) return;
    Napi::Env env = Env();
    try {
      on_rows_.Call({CopyRows(env, rows, count), Napi::Number::New(env, static_cast<double>(count))});
    } catch (const Napi::Error& error) {
      // A throwing callback ends the reading's use, not the process: reject with its error.
      callback_error_ = std::make_unique<Napi::ObjectReference>(Napi::Persistent(error.Value()));
    }
  }

  void OnOK() override {
    if (callback_error_) {
      deferred_.Reject(callback_error_->Value());
      return;
    }
    Napi::Object reading = Napi::Object::New(Env());
    reading.Set("sources", SourceResultsToJs(Env(), results_));
    deferred_.Resolve(reading);
  }

  void OnError(const Napi::Error& error) override { deferred_.Reject(error.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::vector<ProcNetSource> sources_;
  Napi::FunctionReference on_rows_;
  std::vector<SourceResult> results_;
  std::unique_ptr<Napi::ObjectReference> callback_error_;
};

// readProcNet(sources, onRows(rows, count)) → Promise<{ sources }>.
Napi::Value ReadProcNetAsync(const Napi::CallbackInfo& info) {
  if (info.Length() < 2 || !info[1].IsFunction()) {
    throw Napi::TypeError::New(info.Env(), "onRows must be a function");
  }
  auto* worker = new ProcNetWorker(info.Env(), SourcesFromJs(info), info[1].As<Napi::Function>());
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("rowLayoutVersion", Napi::Number::New(env, kRowLayoutVersion));
  exports.Set("rowSize", Napi::Number::New(env, sizeof(RawRow)));
  exports.Set("readProcNet", Napi::Function::New(env, ReadProcNetAsync, "readProcNet"));
  exports.Set("readProcNetSync", Napi::Function::New(env, ReadProcNetSync, "readProcNetSync"));
  return exports;
}

}  // namespace portclash

static Napi::Object InitPortclash(Napi::Env env, Napi::Object exports) {
  return portclash::Init(env, exports);
}

NODE_API_MODULE(NODE_GYP_MODULE_NAME, InitPortclash)
