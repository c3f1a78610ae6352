#include "adapters/cli/cli.hpp"

int main(int argc, char** argv) { return shopstream::adapters::run_cli(argc, argv); }
