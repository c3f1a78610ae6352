#include "adapters/payment/provider_port.hpp"

#include <utility>

namespace shopstream::adapters::payment {

namespace {

operation operation_of(commands::provider_operation op) {
    switch (op) {
        case commands::provider_operation::authorize: return operation::authorize;
        case commands::provider_operation::capture: return operation::capture;
        case commands::provider_operation::void_payment: return operation::void_payment;
        case commands::provider_operation::refund: return operation::refund;
    }
    return operation::authorize;
}

commands::provider_answer answer_of(const outcome& o) {
    commands::provider_answer a;
    switch (o.kind) {
        case outcome_kind::approved: a.result = commands::provider_answer::kind::approved; break;
        case outcome_kind::declined: a.result = commands::provider_answer::kind::declined; break;
        case outcome_kind::transient_failure:
        case outcome_kind::unknown: a.result = commands::provider_answer::kind::failed; break;
    }
    a.reference = o.reference;
    a.reason = o.reason;
    return a;
}

}  // namespace

void provider_port::start(const commands::provider_request& request, commands::provider_callback done) {
    const operation op = operation_of(request.op);
    gateway_request r;
    r.payment = request.payment;
    r.idempotency_key = idempotency_key_for(request.payment, op, request.refund_id);
    r.amount = request.amount;
    r.method_token = request.method_token;
    r.refund_id = request.refund_id;
    gateway_.start(op, std::move(r), timeout_, [done = std::move(done)](outcome o) { done(answer_of(o)); });
}

}  // namespace shopstream::adapters::payment
