// The `xattn` executable: everything lives in run_cli (cli/app.cpp).
#include <iostream>

#include "cli/app.hpp"

int main(int argc, char** argv) { return xattn::cli::run_cli(argc, argv, std::cout, std::cerr); }
