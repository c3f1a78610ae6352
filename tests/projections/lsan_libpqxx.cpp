// LeakSanitizer: libpqxx 6.4.5 (Debian) leaks the libpq result of the statement that found
// its connection broken (216 + 2048 bytes per broken connection, allocated in libpq under
// an unexported libpqxx frame; seen in orders_model_test.a_lost_connection_...). The
// suppression names the library's module only, so a leak whose allocation our code makes
// (a connection never destroyed) is still reported.
extern "C" const char* __lsan_default_suppressions();  // NOLINT: the sanitizer's hook
extern "C" const char* __lsan_default_suppressions() { return "leak:libpqxx-6.4.so\n"; }
