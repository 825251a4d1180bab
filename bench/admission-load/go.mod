module plumbline.dev/bench/admission-load

go 1.26
