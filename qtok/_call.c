/* qtok._call: a tokenizer's encode(text) at the raw engine's cost.
 *
 * Why C: on a short text (~45 characters) the fast engine answers in ~0.6 us, and every Python
 * frame between the user and it costs ~0.05-0.1 us: Tokenizer.encode's checks and one engine
 * method made qtok 25-35% slower than calling fastokens itself. A `Call` object stands where
 * `tok.encode` and `qtok.encode` are looked up. Called with one exact `str` and nothing else,
 * it calls the engine's own function (`target`) straight away and returns `target(text)` or
 * `target(text).<attr>` (fastokens answers an Encoding whose `.ids` is the list). Anything else
 * (keywords, a str subclass, a non-str, a text with a lone surrogate: the target raises
 * UnicodeEncodeError) goes to `fallback`, the Python method with every check, so the two give
 * the same ids and the same errors. `target` is swapped by retarget() when the tokenizer changes
 * engine (a stand-in hands over to the fast engine); with no target every call is the fallback.
 * A stand-in counts the characters it encodes (it builds the faster engine after a budget): it
 * lends the Call its remaining budget, and the Call reports what it used once it is spent.
 *
 * Where no C compiler exists, the extension is skipped (setup.py marks it optional) and
 * `tok.encode` is the Python method: the same ids, ~0.2 us slower per call.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyObject *target;   /* callable(str), or NULL: every call is the fallback */
    PyObject *attr;     /* the attribute of target's result to return, or NULL: the result */
    PyObject *fallback; /* callable(*args, **kwargs), the checked Python path */
    /* Characters the target may still encode before spent(n) is told (a stand-in counts what it
     * encodes to know when to build the faster engine); -1: no limit. */
    Py_ssize_t budget, lent;
    PyObject *spent;    /* callable(n) when the budget is used up, or NULL */
} Call;

static PyObject *call_vectorcall(PyObject *op, PyObject *const *args, size_t nargsf, PyObject *kwnames) {
    Call *self = (Call *)op;
    PyObject *target = self->target;
    if (target != NULL && PyVectorcall_NARGS(nargsf) == 1 && kwnames == NULL && PyUnicode_CheckExact(args[0])) {
        if (self->budget >= 0) {
            Py_ssize_t n = PyUnicode_GET_LENGTH(args[0]);
            if (n >= self->budget) {
                /* Tell what went through here; spent() may retarget. This call is the
                 * fallback's, which counts it. */
                PyObject *spent = self->spent;
                Py_ssize_t used = self->lent - self->budget;
                self->budget = self->lent = 0;
                self->target = NULL;
                if (spent != NULL) {
                    PyObject *r = PyObject_CallFunction(spent, "n", used);
                    Py_XDECREF(r);
                    if (r == NULL) {
                        Py_DECREF(target);
                        return NULL;
                    }
                }
                Py_DECREF(target); /* the reference self->target held */
                return PyObject_Vectorcall(self->fallback, args, nargsf, kwnames);
            }
            self->budget -= n;
        }
        /* Held while the engine runs: it may release the GIL, and another thread may retarget. */
        PyObject *attr = self->attr;
        Py_INCREF(target);
        Py_XINCREF(attr);
        PyObject *result = PyObject_Vectorcall(target, args, 1, NULL);
        Py_DECREF(target);
        if (result != NULL) {
            if (attr == NULL)
                return result;
            PyObject *out = PyObject_GetAttr(result, attr);
            Py_DECREF(result);
            Py_DECREF(attr);
            return out;
        }
        Py_XDECREF(attr);
        if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError))
            return NULL;
        PyErr_Clear(); /* a lone surrogate: the fallback replaces it, as the Python path does */
    }
    return PyObject_Vectorcall(self->fallback, args, nargsf, kwnames);
}

static PyObject *call_new(PyTypeObject *type, PyObject *args, PyObject *kwargs) {
    PyObject *fallback;
    if (!PyArg_ParseTuple(args, "O:Call", &fallback))
        return NULL;
    if (kwargs != NULL && PyDict_GET_SIZE(kwargs) != 0) {
        PyErr_SetString(PyExc_TypeError, "Call(fallback) takes no keyword arguments");
        return NULL;
    }
    if (!PyCallable_Check(fallback)) {
        PyErr_SetString(PyExc_TypeError, "Call(fallback): fallback must be callable");
        return NULL;
    }
    Call *self = (Call *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->vectorcall = call_vectorcall;
    self->budget = self->lent = -1;
    Py_INCREF(fallback);
    self->fallback = fallback;
    return (PyObject *)self;
}

static PyObject *call_retarget(PyObject *op, PyObject *args) {
    Call *self = (Call *)op;
    PyObject *target, *attr, *spent = Py_None;
    Py_ssize_t budget = -1;
    if (!PyArg_ParseTuple(args, "OO|nO:retarget", &target, &attr, &budget, &spent))
        return NULL;
    if (spent != Py_None && !PyCallable_Check(spent)) {
        PyErr_SetString(PyExc_TypeError, "retarget(target, attr, budget, spent): spent must be callable or None");
        return NULL;
    }
    if (target != Py_None && !PyCallable_Check(target)) {
        PyErr_SetString(PyExc_TypeError, "retarget(target, attr): target must be callable or None");
        return NULL;
    }
    if (attr != Py_None && !PyUnicode_Check(attr)) {
        PyErr_SetString(PyExc_TypeError, "retarget(target, attr): attr must be a str or None");
        return NULL;
    }
    PyObject *old_target = self->target, *old_attr = self->attr;
    self->target = target == Py_None ? NULL : Py_NewRef(target);
    if (attr == Py_None) {
        self->attr = NULL;
    } else {
        Py_INCREF(attr);
        PyUnicode_InternInPlace(&attr);
        self->attr = attr;
    }
    PyObject *old_spent = self->spent;
    self->spent = spent == Py_None ? NULL : Py_NewRef(spent);
    self->budget = self->lent = budget < 0 ? -1 : budget;
    Py_XDECREF(old_target);
    Py_XDECREF(old_attr);
    Py_XDECREF(old_spent);
    Py_RETURN_NONE;
}

static int call_traverse(PyObject *op, visitproc visit, void *arg) {
    Call *self = (Call *)op;
    Py_VISIT(self->target);
    Py_VISIT(self->attr);
    Py_VISIT(self->fallback);
    Py_VISIT(self->spent);
    return 0;
}

static int call_clear(PyObject *op) {
    Call *self = (Call *)op;
    Py_CLEAR(self->target);
    Py_CLEAR(self->attr);
    Py_CLEAR(self->fallback);
    Py_CLEAR(self->spent);
    return 0;
}

static void call_dealloc(PyObject *op) {
    PyObject_GC_UnTrack(op);
    call_clear(op);
    Py_TYPE(op)->tp_free(op);
}

/* help(), inspect.signature (through __wrapped__) and doctest see the Python method. */
static PyObject *call_doc(PyObject *op, void *closure) {
    return PyObject_GetAttrString(((Call *)op)->fallback, "__doc__");
}

static PyObject *call_name(PyObject *op, void *closure) {
    return PyObject_GetAttrString(((Call *)op)->fallback, "__name__");
}

static PyObject *call_module(PyObject *op, void *closure) {
    return PyObject_GetAttrString(((Call *)op)->fallback, "__module__");
}

static PyObject *call_target(PyObject *op, void *closure) {
    Call *self = (Call *)op;
    return Py_NewRef(self->target ? self->target : Py_None);
}

static PyObject *call_repr(PyObject *op) {
    return PyUnicode_FromFormat("<qtok call of %R>", ((Call *)op)->fallback);
}

static PyGetSetDef call_getset[] = {
    {"__doc__", call_doc, NULL, NULL, NULL},
    {"__name__", call_name, NULL, NULL, NULL},
    {"__module__", call_module, NULL, NULL, NULL},
    {"target", call_target, NULL, "the engine's function called for one str, or None", NULL},
    {NULL},
};

static PyMemberDef call_members[] = {
    {"__wrapped__", T_OBJECT, offsetof(Call, fallback), READONLY, "the checked Python path"},
    {"__vectorcalloffset__", T_PYSSIZET, offsetof(Call, vectorcall), READONLY},
    {"budget", T_PYSSIZET, offsetof(Call, budget), READONLY, "characters left before spent(n); -1: no limit"},
    {NULL},
};

static PyMethodDef call_methods[] = {
    {"retarget", call_retarget, METH_VARARGS,
     "retarget(target, attr, budget=-1, spent=None): one str goes to target(text) (its .attr "
     "unless attr is None) until budget characters went there, then spent(n) is called and the "
     "fallback answers; target None sends every call to the fallback"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject CallType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "qtok._call.Call",
    .tp_basicsize = sizeof(Call),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_doc = "Call(fallback): encode(text) straight to an engine for one str, else fallback(...)",
    .tp_new = call_new,
    .tp_dealloc = call_dealloc,
    .tp_traverse = call_traverse,
    .tp_clear = call_clear,
    .tp_call = PyVectorcall_Call,
    .tp_vectorcall_offset = offsetof(Call, vectorcall),
    .tp_repr = call_repr,
    .tp_getset = call_getset,
    .tp_members = call_members,
    .tp_methods = call_methods,
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_call", "encode(text) at the raw engine's cost.", -1, NULL};

PyMODINIT_FUNC PyInit__call(void) {
    if (PyType_Ready(&CallType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    if (PyModule_AddObjectRef(m, "Call", (PyObject *)&CallType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
