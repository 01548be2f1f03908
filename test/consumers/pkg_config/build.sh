c++ -std=c++20 main.cpp $(pkg-config --cflags --libs vmm_pmr) -o my_app
