// The N-API surface: argument checks, the worker thread, and rows handed over as one ArrayBuffer.
#include <napi.h>

#include <memory>
#include <utility>
#include <vector>

#include "sockets.h"

namespace portclash {
namespace {

struct ProcNetReading {
  std::vector<RawRow> rows;
  std::vector<SourceResult> sources;
};

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

// Hands the row vector to JavaScript without a copy; the ArrayBuffer's finalizer frees it.
Napi::Object ReadingToJs(Napi::Env env, std::unique_ptr<ProcNetReading> reading) {
  Napi::Object result = Napi::Object::New(env);
  Napi::Array sources = Napi::Array::New(env, reading->sources.size());
  for (size_t i = 0; i < reading->sources.size(); ++i) {
    const SourceResult& source = reading->sources[i];
    Napi::Object item = Napi::Object::New(env);
    item.Set("rows", Napi::Number::New(env, static_cast<double>(source.rows)));
    item.Set("malformed", Napi::Number::New(env, static_cast<double>(source.malformed)));
    item.Set("errno", Napi::Number::New(env, source.error));
    item.Set("syscall", source.syscall != nullptr ? Napi::String::New(env, source.syscall)
                                                  : env.Null());
    sources.Set(static_cast<uint32_t>(i), item);
  }
  result.Set("sources", sources);

  std::vector<RawRow>* rows = new std::vector<RawRow>(std::move(reading->rows));
  result.Set("count", Napi::Number::New(env, static_cast<double>(rows->size())));
  if (rows->empty()) {
    delete rows;
    result.Set("rows", Napi::ArrayBuffer::New(env, 0));
  } else {
    result.Set("rows", Napi::ArrayBuffer::New(
                           env, rows->data(), rows->size() * sizeof(RawRow),
                           [](Napi::Env, void*, std::vector<RawRow>* owned) { delete owned; },
                           rows));
  }
  return result;
}

Napi::Value ReadProcNetSync(const Napi::CallbackInfo& info) {
  std::vector<ProcNetSource> sources = SourcesFromJs(info);
  auto reading = std::make_unique<ProcNetReading>();
  reading->sources = ReadProcNet(sources, reading->rows);
  return ReadingToJs(info.Env(), std::move(reading));
}

// Reads on a libuv pool thread: a server calling this before it starts keeps its event loop.
class ProcNetWorker : public Napi::AsyncWorker {
 public:
  ProcNetWorker(Napi::Env env, std::vector<ProcNetSource> sources)
      : Napi::AsyncWorker(env, "portclash:readProcNet"),
        deferred_(Napi::Promise::Deferred::New(env)),
        sources_(std::move(sources)),
        reading_(std::make_unique<ProcNetReading>()) {}

  Napi::Promise Promise() const { return deferred_.Promise(); }

  void Execute() override { reading_->sources = ReadProcNet(sources_, reading_->rows); }

  void OnOK() override { deferred_.Resolve(ReadingToJs(Env(), std::move(reading_))); }

  void OnError(const Napi::Error& error) override { deferred_.Reject(error.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::vector<ProcNetSource> sources_;
  std::unique_ptr<ProcNetReading> reading_;
};

Napi::Value ReadProcNetAsync(const Napi::CallbackInfo& info) {
  auto* worker = new ProcNetWorker(info.Env(), SourcesFromJs(info));
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
