module tricolor.bench/pacing

go 1.19
