//! Parsing and validating instance data, with every error libyang reports (not only the last),
//! each with the data path it concerns. This is the FFI edge: the one place that reads
//! libyang's error list directly.

use std::ffi::CStr;

use yang5::context::Context;
use yang5::data::{DataFormat, DataParserFlags, DataTree, DataValidationFlags};

/// One error libyang reported about instance data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YangError {
    /// Data path of the offending node, when libyang knows it.
    pub path: Option<String>,
    /// libyang's message.
    pub message: String,
    /// The error-app-tag, when the model sets one.
    pub app_tag: Option<String>,
    /// Line in the input, when the error came from parsing.
    pub line: Option<u64>,
}

impl std::fmt::Display for YangError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.path, self.line) {
            (Some(path), _) => write!(f, "{path}: {}", self.message),
            (None, Some(line)) => write!(f, "line {line}: {}", self.message),
            (None, None) => f.write_str(&self.message),
        }
    }
}

/// The instance formats a configuration file may be in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// XML, as NETCONF carries it.
    Xml,
    /// JSON (RFC 7951).
    Json,
}

impl Format {
    /// Guesses the format from the first non-blank character: `{` is JSON, anything else XML.
    pub fn sniff(text: &str) -> Format {
        match text.trim_start().chars().next() {
            Some('{') => Format::Json,
            _ => Format::Xml,
        }
    }

    fn libyang(self) -> DataFormat {
        match self {
            Format::Xml => DataFormat::XML,
            Format::Json => DataFormat::JSON,
        }
    }
}

/// Makes libyang keep every error of an operation, not only the last, and print none itself.
/// The binding sets "last only" when it creates its first context, so this runs after that.
pub(crate) fn keep_all_errors() {
    // SAFETY: sets a process-wide logging option; no pointers involved.
    unsafe { libyang5_sys::ly_log_options(libyang5_sys::LY_LOSTORE) };
}

// libyang stops at the first error unless asked for all of them.
fn multi_error() -> DataValidationFlags {
    DataValidationFlags::from_bits_retain(libyang5_sys::LYD_VALIDATE_MULTI_ERROR)
}

/// Parses a configuration document (config true nodes only, unknown nodes rejected) without
/// validating it.
pub fn parse_config<'a>(
    ctx: &'a Context,
    text: &str,
    format: Format,
) -> Result<DataTree<'a>, Vec<YangError>> {
    clear_errors(ctx);
    DataTree::parse_string(
        ctx,
        text,
        format.libyang(),
        DataParserFlags::NO_VALIDATION | DataParserFlags::STRICT | DataParserFlags::NO_STATE,
        DataValidationFlags::empty(),
    )
    .map_err(|e| collect_errors(ctx, e))
}

/// Validates a configuration tree in full: types, must, when, unique, leafref, mandatory.
/// Adds default nodes. Returns every error found.
pub fn validate_config(tree: &mut DataTree<'_>) -> Result<(), Vec<YangError>> {
    let ctx = tree_context(tree);
    clear_errors(ctx);
    tree.validate(DataValidationFlags::NO_STATE | multi_error())
        .map_err(|e| collect_errors(ctx, e))
}

fn tree_context<'a>(tree: &DataTree<'a>) -> &'a Context {
    use yang5::data::Data;
    tree.context()
}

fn clear_errors(ctx: &Context) {
    // SAFETY: `ctx` is a live context; a null item clears the whole list of this thread.
    unsafe { libyang5_sys::ly_err_clean(ctx_raw(ctx), std::ptr::null_mut()) };
}

// The binding keeps the context pointer private; every module records the context it belongs
// to, and libyang's own "yang" module is present in every context.
fn ctx_raw(ctx: &Context) -> *mut libyang5_sys::ly_ctx {
    match ctx.get_module_latest("yang") {
        // SAFETY: the module pointer is valid while `ctx` lives.
        Some(module) => unsafe { (*module.as_raw()).ctx },
        None => std::ptr::null_mut(),
    }
}

fn collect_errors(ctx: &Context, last: yang5::Error) -> Vec<YangError> {
    let mut errors = Vec::new();
    // SAFETY: the list belongs to `ctx` and to this thread; items stay valid until the next
    // libyang call on this context, and we copy them out before returning.
    unsafe {
        let mut item = libyang5_sys::ly_err_first(ctx_raw(ctx));
        while !item.is_null() {
            let it = &*item;
            if it.level == libyang5_sys::LY_LOG_LEVEL::LY_LLERR {
                errors.push(YangError {
                    path: opt_string(it.data_path).or_else(|| opt_string(it.schema_path)),
                    message: opt_string(it.msg).unwrap_or_else(|| "unknown error".into()),
                    app_tag: opt_string(it.apptag),
                    line: (it.line > 0).then_some(it.line),
                });
            }
            item = it.next;
        }
    }
    clear_errors(ctx);
    if errors.is_empty() {
        errors.push(YangError {
            path: last.path,
            message: last
                .msg
                .unwrap_or_else(|| format!("libyang error {}", last.errcode)),
            app_tag: last.apptag,
            line: None,
        });
    }
    errors
}

unsafe fn opt_string(ptr: *const std::os::raw::c_char) -> Option<String> {
    if ptr.is_null() {
        None
    } else {
        // SAFETY: libyang strings are NUL-terminated and live as long as the error item.
        Some(
            unsafe { CStr::from_ptr(ptr) }
                .to_string_lossy()
                .into_owned(),
        )
    }
}

/// A node libyang kept without a schema node (parsed with [`parse_edit_lenient`]): an element
/// whose value did not fit its type, such as the empty `<leaf nc:operation="delete"/>` clients
/// send to delete a leaf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpaqueNode {
    /// Element name.
    pub name: String,
    /// Its XML namespace.
    pub namespace: String,
    /// Its value as sent.
    pub value: String,
    /// Attributes as (local name, value), e.g. ("operation", "delete").
    pub attributes: Vec<(String, String)>,
}

/// The opaque form of `node`, or `None` when it has a schema node.
pub fn opaque(node: &yang5::data::DataNodeRef<'_>) -> Option<OpaqueNode> {
    let raw = node.as_raw();
    // SAFETY: `raw` is a live node of a tree `node` borrows. A node without a schema node is a
    // `lyd_node_opaq` (libyang's documented layout); its strings are NUL-terminated and live
    // as long as the node.
    unsafe {
        if raw.is_null() || !(*raw).schema.is_null() {
            return None;
        }
        let opaq = raw as *const libyang5_sys::lyd_node_opaq;
        let name = opt_string((*opaq).name.name).unwrap_or_default();
        let namespace = opt_string((*opaq).name.__bindgen_anon_1.module_ns).unwrap_or_default();
        let value = opt_string((*opaq).value).unwrap_or_default();
        let mut attributes = Vec::new();
        let mut attr = (*opaq).attr;
        while !attr.is_null() {
            attributes.push((
                opt_string((*attr).name.name).unwrap_or_default(),
                opt_string((*attr).value).unwrap_or_default(),
            ));
            attr = (*attr).next;
        }
        Some(OpaqueNode {
            name,
            namespace,
            value,
            attributes,
        })
    }
}

/// Parses an edit document keeping elements whose values do not fit their type as opaque
/// nodes instead of failing; unknown elements still fail.
pub fn parse_edit_lenient<'a>(ctx: &'a Context, xml: &str) -> Result<DataTree<'a>, Vec<YangError>> {
    clear_errors(ctx);
    let opaq = DataParserFlags::from_bits_retain(libyang5_sys::LYD_PARSE_OPAQ);
    DataTree::parse_string(
        ctx,
        xml,
        DataFormat::XML,
        DataParserFlags::NO_VALIDATION | DataParserFlags::STRICT | DataParserFlags::NO_STATE | opaq,
        DataValidationFlags::empty(),
    )
    .map_err(|e| collect_errors(ctx, e))
}

/// Prints a data tree (or subtree with its siblings, per `flags`). An empty result (an empty
/// tree, or nothing left after with-defaults trimming) is an empty string; the binding's own
/// printer crashes on it because libyang then returns no buffer.
pub fn print<'a>(
    tree: &impl yang5::data::Data<'a>,
    format: DataFormat,
    flags: yang5::data::DataPrinterFlags,
) -> String {
    let root = tree.raw();
    if root.is_null() {
        return String::new();
    }
    let mut out: *mut std::os::raw::c_char = std::ptr::null_mut();
    // SAFETY: `root` is a live node of a tree borrowed for this call; libyang allocates `out`
    // with malloc (or leaves it null), which we copy and free exactly once.
    unsafe {
        let rc = libyang5_sys::lyd_print_mem(&mut out, root, format as u32, flags.bits());
        if out.is_null() {
            return String::new();
        }
        let text = if rc == libyang5_sys::LY_ERR::LY_SUCCESS {
            CStr::from_ptr(out).to_string_lossy().into_owned()
        } else {
            String::new()
        };
        libc::free(out as *mut libc::c_void);
        text
    }
}
